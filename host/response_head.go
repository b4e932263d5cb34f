package host

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/gowsgi/gowsgi/pybridge"
)

// responseHead is a status and header list an app sent, checked.
type responseHead struct {
	code          int
	contentLength int64 // -1 when the app set none
	dropped       []string
}

// errInvalidHead wraps every reason a status or header is refused.
var errInvalidHead = errors.New("invalid response head")

// parseStatus checks a WSGI status: three digits, a space, a reason phrase
// (PEP 3333 requires one) without control characters.
func parseStatus(status []byte) (int, error) {
	if len(status) < 4 || status[3] != ' ' {
		return 0, fmt.Errorf("%w: status %q is not \"NNN Reason\"", errInvalidHead, status)
	}
	code := 0
	for _, c := range status[:3] {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: status %q does not start with a 3-digit code", errInvalidHead, status)
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 {
		// 1xx are the server's business (100-continue, upgrades).
		return 0, fmt.Errorf("%w: status %q: informational codes are not allowed from an app", errInvalidHead, status)
	}
	for _, c := range status[4:] {
		if (c < 0x20 && c != '\t') || c == 0x7f {
			return 0, fmt.Errorf("%w: status %q contains a control character", errInvalidHead, status)
		}
	}
	return code, nil
}

// isToken reports whether b is an RFC 9110 token (a valid header name or
// method). Both the app's response heads ([]byte) and the fast path's
// request heads (string) are checked with it.
func isToken[T ~string | ~[]byte](b T) bool {
	if len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue rejects what would break the framing: CR, LF, NUL and other
// controls except tab. Bytes 0x80-0xFF are latin-1 text and allowed.
// (net/http's rule for request header values too.)
func validValue[T ~string | ~[]byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hopByHop names the headers that belong to one connection (RFC 9110
// 7.6.1); PEP 3333 forbids apps to send them, so they are dropped.
func hopByHop(canonical string) bool {
	switch canonical {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection":
		return true
	}
	return false
}

// canonicalKey returns the canonical form of a header name without
// allocating for the names apps send most.
func canonicalKey(name []byte) string {
	switch string(name) {
	case "Content-Type", "content-type":
		return "Content-Type"
	case "Content-Length", "content-length":
		return "Content-Length"
	case "Set-Cookie", "set-cookie":
		return "Set-Cookie"
	case "Location", "location":
		return "Location"
	case "Cache-Control", "cache-control":
		return "Cache-Control"
	case "Vary", "vary":
		return "Vary"
	case "X-Frame-Options":
		return "X-Frame-Options"
	case "X-Content-Type-Options":
		return "X-Content-Type-Options"
	case "Referrer-Policy":
		return "Referrer-Policy"
	case "Cross-Origin-Opener-Policy":
		return "Cross-Origin-Opener-Policy"
	case "Content-Disposition":
		return "Content-Disposition"
	case "Last-Modified":
		return "Last-Modified"
	case "Expires":
		return "Expires"
	}
	return http.CanonicalHeaderKey(string(name))
}

// applyHead validates an app's status and headers and copies them into
// store's map, the values into store's memory (grown as needed: a store
// made for one response, with only a map, gets new memory). Nothing is
// copied unless everything is valid.
func applyHead(head *pybridge.Head, store *headerStore) (responseHead, error) {
	h := store.h
	rh := responseHead{contentLength: -1}
	status := head.Status()
	code, err := parseStatus(status)
	if err != nil {
		return rh, err
	}
	rh.code = code
	store.setReason(code, status[4:])
	// The values are copied into one block and the header map's slices
	// cut from one array: no allocation per header, and none at all with
	// a store that has room.
	count, size := 0, 0
	for it := head.Headers(); ; {
		name, value, ok := it.Next()
		if !ok {
			break
		}
		if !isToken(name) || !validValue(value) {
			return rh, invalidHeaderError(name, value)
		}
		count++
		size += len(value)
	}
	store.block = slices.Grow(store.block[:0], size)
	if cap(store.slots) < count {
		store.slots = make([]string, count)
	}
	block, slots := store.block, store.slots[:count]
	for it := head.Headers(); ; {
		_, value, ok := it.Next()
		if !ok {
			break
		}
		block = append(block, value...)
	}
	// block is not written again while these strings are in use: the
	// store's map is cleared before the store is reused.
	values := unsafe.String(unsafe.SliceData(block), len(block))
	offset, i := 0, 0
	for it := head.Headers(); ; i++ {
		name, raw, ok := it.Next()
		if !ok {
			break
		}
		value := values[offset : offset+len(raw)]
		offset += len(raw)
		key := canonicalKey(name)
		if hopByHop(key) {
			rh.dropped = append(rh.dropped, key)
			continue
		}
		if key == "Content-Length" {
			var n int64
			if value, n, ok = parseContentLength(value); !ok || (rh.contentLength >= 0 && rh.contentLength != n) {
				clear(h)
				return rh, contentLengthError(value)
			}
			if rh.contentLength >= 0 {
				continue // a repeat of the same value
			}
			rh.contentLength = n
		}
		if prev := h[key]; len(prev) > 0 {
			h[key] = append(prev, value) // a repeated header: its own slice
		} else {
			slots[i] = value
			h[key] = slots[i : i+1 : i+1]
		}
	}
	if _, ok := h["Content-Type"]; !ok {
		// None from the app means none on the wire. Without this nil
		// entry net/http, and the fast path that follows it, would sniff
		// one from the body: user content the app sent with nosniff
		// would go out as text/html.
		h["Content-Type"] = nil
	}
	return rh, nil
}

// The helpers below keep applyHead's frame small. It runs at the deepest
// point of a request on the stack of the connection goroutine that
// called Python, close to a stack size boundary: 88 bytes more (with its
// caller; a reason-phrase check and a trim written inline) made 1,000
// keep-alive connections cost 8 MB more, in stacks that doubled
// (docs/bench/budget.md, "Goroutine stacks"). Error messages, with their
// fmt argument arrays, are built out of line for the same reason.

// setReason keeps the app's reason phrase when it is not Go's text.
//
//go:noinline
func (s *headerStore) setReason(code int, reason []byte) {
	s.reasonCode, s.reason = 0, ""
	if string(reason) != http.StatusText(code) {
		s.reasonCode, s.reason = code, string(reason)
	}
}

// parseContentLength reads an app's Content-Length: 1*DIGIT, with the
// field's optional whitespace (RFC 9110 5.5) around it trimmed, as
// gunicorn does ("+5" parses as a number, but is not valid HTTP).
//
//go:noinline
func parseContentLength(value string) (trimmed string, n int64, ok bool) {
	trimmed = value
	if last := len(value) - 1; last >= 0 && (value[0] == ' ' || value[0] == '\t' || value[last] == ' ' || value[last] == '\t') {
		trimmed = strings.Trim(value, " \t") // rare: most apps send bare digits
	}
	if trimmed == "" {
		return trimmed, 0, false
	}
	for i := 0; i < len(trimmed); i++ {
		if c := trimmed[i]; c < '0' || c > '9' {
			return trimmed, 0, false
		}
	}
	n, err := strconv.ParseInt(trimmed, 10, 64)
	return trimmed, n, err == nil
}

//go:noinline
func invalidHeaderError(name, value []byte) error {
	if !isToken(name) {
		return fmt.Errorf("%w: header name %q is not a token", errInvalidHead, name)
	}
	return fmt.Errorf("%w: header %s value %q contains CR, LF or another control character", errInvalidHead, name, value)
}

//go:noinline
func contentLengthError(value string) error {
	return fmt.Errorf("%w: Content-Length %q is not one non-negative integer", errInvalidHead, value)
}
