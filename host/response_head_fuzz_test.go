package host

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/gowsgi/gowsgi/pybridge"
)

// fuzzHeaders splits data into header (name, value) pairs: each field is
// one length byte (mod 64) and that many bytes, so any byte, NUL, CR and
// LF included, can land in a name or a value.
func fuzzHeaders(data []byte) [][2]string {
	var fields []string
	for len(data) > 0 {
		n := int(data[0] % 64)
		data = data[1:]
		n = min(n, len(data))
		fields = append(fields, string(data[:n]))
		data = data[n:]
	}
	var out [][2]string
	for i := 0; i+1 < len(fields); i += 2 {
		out = append(out, [2]string{fields[i], fields[i+1]})
	}
	return out
}

// packFuzzHeaders is fuzzHeaders' inverse, for the seeds.
func packFuzzHeaders(headers ...[2]string) []byte {
	var b []byte
	for _, h := range headers {
		for _, f := range h {
			if len(f) > 63 {
				f = f[:63]
			}
			b = append(b, byte(len(f)))
			b = append(b, f...)
		}
	}
	return b
}

var fuzzHopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Proxy-Connection": true,
}

// fuzzToken is RFC 9110's token, written out independently of isToken.
func fuzzToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// FuzzApplyHead: whatever status and headers an app hands start_response,
// applyHead never panics, and a head it accepts can go on the wire as is.
//
//	go test ./host/ -run '^$' -fuzz FuzzApplyHead -fuzztime 5m
func FuzzApplyHead(f *testing.F) {
	seeds := []struct {
		status  string
		headers [][2]string
	}{
		{"200 OK", [][2]string{{"Content-Type", "text/plain"}, {"Content-Length", "5"}}},
		{"201 Created", [][2]string{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"X-Latin1", "caf\xe9"}, {"X-Tab", "a\tb"}}},
		{"404 Not Found", nil},
		{"999 Whatever", [][2]string{{"x-lower", "1"}}},
		{"200 OK", [][2]string{{"Connection", "close"}, {"Transfer-Encoding", "chunked"}, {"te", "trailers"}, {"X-Ok", "1"}}},
		{"200 OK", [][2]string{{"X-Bad", "x\r\nX-Injected: 1"}}},
		{"200 OK", [][2]string{{"X Bad", "1"}}},
		{"200 OK", [][2]string{{"X:Bad", "1"}}},
		{"200 OK", [][2]string{{"", "1"}}},
		{"200 OK", [][2]string{{"X-\xe9", "1"}}},
		{"200 OK", [][2]string{{"X", "a\x00b"}}},
		{"200 OK", [][2]string{{"Content-Length", "+5"}}},
		{"200 OK", [][2]string{{"Content-Length", "5"}, {"Content-Length", "5"}}},
		{"200 OK", [][2]string{{"Content-Length", "5"}, {"content-length", "6"}}},
		{"200 OK", [][2]string{{"Content-Length", "99999999999999999999"}}},
		{"200 OK", [][2]string{{"X-A", "1"}, {"Content-Length", "x"}}},
		{"200", nil},
		{"abc", nil},
		{"101 Switching Protocols", nil},
		{"200 OK\r\nX: y", nil},
		{"200 \xe9t\xe9", nil},
		{"0200 OK", nil},
		{"200\tOK", nil},
	}
	for _, s := range seeds {
		f.Add(s.status, packFuzzHeaders(s.headers...))
	}
	f.Fuzz(func(t *testing.T, status string, data []byte) {
		headers := fuzzHeaders(data)
		h := http.Header{}
		rh, err := applyHead(pybridge.NewHead(status, headers...), &headerStore{h: h})
		// The fast path copies into a store that held another response's
		// headers: the same outcome.
		store := &headerStore{h: http.Header{}}
		_, _ = applyHead(pybridge.NewHead("200 OK", [2]string{"X-Before", strings.Repeat("b", 300)}, [2]string{"Content-Type", "c"}), store)
		clear(store.h)
		storeRH, storeErr := applyHead(pybridge.NewHead(status, headers...), store)
		if (err == nil) != (storeErr == nil) || !reflect.DeepEqual(rh, storeRH) || !reflect.DeepEqual(h, store.h) {
			t.Fatalf("applyHead(%q, %q) with a reused store: %v %v %q, without: %v %v %q", status, headers, storeRH, storeErr, store.h, rh, err, h)
		}
		if err != nil {
			if len(h) != 0 {
				t.Fatalf("applyHead(%q, %q) failed (%v) but copied headers %q", status, headers, err, h)
			}
			return
		}
		if rh.code < 200 || rh.code > 999 {
			t.Fatalf("status %q accepted with code %d", status, rh.code)
		}
		if want, _ := strconv.Atoi(status[:3]); want != rh.code {
			t.Fatalf("status %q gave code %d", status, rh.code)
		}
		if strings.ContainsAny(status, "\r\n\x00") {
			t.Fatalf("status %q with CR/LF/NUL accepted", status)
		}
		for name, values := range h {
			if !fuzzToken(name) {
				t.Fatalf("header name %q is not a token (input %q)", name, headers)
			}
			if fuzzHopByHop[http.CanonicalHeaderKey(name)] {
				t.Fatalf("hop-by-hop header %q kept (input %q)", name, headers)
			}
			for _, v := range values {
				if strings.ContainsAny(v, "\r\n\x00") {
					t.Fatalf("header %s value %q contains CR, LF or NUL", name, v)
				}
			}
		}
		// Nothing lost, nothing reordered: each kept header's values are
		// the input's values for that name, in order (a Content-Length
		// repeated with the same value is kept once).
		want := http.Header{}
		for _, kv := range headers {
			key := http.CanonicalHeaderKey(kv[0])
			if fuzzHopByHop[key] {
				continue
			}
			value := kv[1]
			if key == "Content-Length" {
				if len(want[key]) > 0 {
					continue
				}
				value = strings.Trim(value, " \t")
			}
			want[key] = append(want[key], value)
		}
		if _, ok := want["Content-Type"]; !ok {
			want["Content-Type"] = nil // none from the app: none sniffed
		}
		if len(want) != len(h) {
			t.Fatalf("headers %q became %q", headers, h)
		}
		for k, vs := range want {
			got := h[k]
			if len(got) != len(vs) {
				t.Fatalf("%s: %q became %q", k, vs, got)
			}
			for i := range vs {
				if got[i] != vs[i] {
					t.Fatalf("%s: %q became %q", k, vs, got)
				}
			}
		}
		if cl, ok := h["Content-Length"]; ok {
			n, perr := strconv.ParseInt(cl[0], 10, 64)
			if len(cl) != 1 || perr != nil || n < 0 || strings.TrimLeft(cl[0], "0123456789") != "" || rh.contentLength != n {
				t.Fatalf("Content-Length %q accepted as %d", cl, rh.contentLength)
			}
		} else if rh.contentLength != -1 {
			t.Fatalf("no Content-Length but contentLength %d", rh.contentLength)
		}
	})
}
