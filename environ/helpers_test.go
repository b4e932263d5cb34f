package environ

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// tcpLocal is the listener address test requests arrive on.
var tcpLocal = &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 8000}

// readRequest parses a raw HTTP/1.x request (lines joined with CRLF, the
// blank line added) the way the server does, then gives it a peer address
// and a listener address as net/http's server would.
func readRequest(t testing.TB, remote string, local net.Addr, lines ...string) *http.Request {
	t.Helper()
	raw := strings.Join(lines, "\r\n") + "\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest(%q): %v", raw, err)
	}
	r.RemoteAddr = remote
	if local != nil {
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
	}
	return r
}

// envMap builds a map from Build's output, failing on a repeated key.
func envMap(t testing.TB, vars []Var) map[string]string {
	t.Helper()
	m := make(map[string]string, len(vars))
	for _, v := range vars {
		if _, dup := m[v.Key]; dup {
			t.Fatalf("key %q emitted twice in %v", v.Key, vars)
		}
		m[v.Key] = v.Value
	}
	return m
}

// absent marks a key that must not be emitted in a want map.
const absent = "\x00<absent>"

func checkEnv(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w == absent && ok:
			t.Errorf("%s = %q, want absent", k, g)
		case w != absent && !ok:
			t.Errorf("%s absent, want %q", k, w)
		case w != absent && g != w:
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
}

func mustAllow(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseForwardedAllow(s)
	if err != nil {
		t.Fatalf("ParseForwardedAllow(%q): %v", s, err)
	}
	return p
}
