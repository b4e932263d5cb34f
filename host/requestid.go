package host

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/gowsgi/gowsgi/environ"
)

// maxRequestIDLen: a longer incoming id is replaced by one gowsgi makes
// (it goes into every log line).
const maxRequestIDLen = 200

// requestIDs honours an incoming request id header (--request-id-header,
// X-Request-ID by default) or makes one: a random prefix drawn once per
// process, a dash and a per-process counter in hex. Unique across workers
// and restarts, and one atomic add per request, no allocation.
type requestIDs struct {
	header   string // canonical header name
	envKey   string // HTTP_X_REQUEST_ID
	envIndex int    // environ.KeyIndex(envKey), -1 if not a known key
	prefix   [17]byte
	next     atomic.Uint64
}

func newRequestIDs(header string) (*requestIDs, error) {
	if header == "" {
		header = "X-Request-ID"
	}
	for i := 0; i < len(header); i++ {
		c := header[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil, fmt.Errorf("--request-id-header %q: want a header name (letters, digits, dashes)", header)
		}
	}
	g := &requestIDs{header: http.CanonicalHeaderKey(header)}
	g.envKey = "HTTP_" + strings.ToUpper(strings.ReplaceAll(header, "-", "_"))
	g.envIndex = environ.KeyIndex(g.envKey)
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("request ids: random prefix: %w", err)
	}
	hex.Encode(g.prefix[:16], seed[:])
	g.prefix[16] = '-'
	return g, nil
}

// forRequest returns r's request id. An id gowsgi made is written into
// buf (the job's, reused) and the returned string views buf: it is valid
// until the job is reused, which is after the request's logs are written.
// made says the id is new, so the caller must add it to the environ (the
// client's own header is there already).
func (g *requestIDs) forRequest(r *http.Request, buf *[]byte) (id string, made bool) {
	if v := r.Header[g.header]; len(v) > 0 && validRequestID(v[0]) {
		return v[0], false
	}
	b := append((*buf)[:0], g.prefix[:]...)
	b = appendHex(b, g.next.Add(1))
	*buf = b
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// validRequestID reports whether a client's id is kept: 1 to
// maxRequestIDLen bytes of visible ASCII other than '"' and '\\' (UUIDs,
// W3C traceparent, AWS trace ids all are). A space, a quote or a byte
// outside ASCII could forge a field of a text log line, so such an id is
// replaced by one gowsgi makes.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func appendHex(b []byte, n uint64) []byte {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[n&0xf]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
