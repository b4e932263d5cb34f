package environ

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// FuzzBuild feeds raw requests through http.ReadRequest (the parser the
// server uses) and checks what must hold for any request Build sees.
//
//	go test ./environ/ -run '^$' -fuzz FuzzBuild -fuzztime 60s
func FuzzBuild(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET /a%2Fb%E9?q=1 HTTP/1.1\r\nHost: h:8080\r\nAccept: a\r\nAccept: b\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
		"POST /app/x HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 203.0.113.5, 10.0.0.1\r\n" +
			"X-Forwarded-Proto: https\r\nX-Forwarded-Host: p.example:8443\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=\"[2001:db8::1]:80\";proto=https;host=p.example, for=_x\r\n\r\n",
		"GET http://example.com/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"GET /old HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:99\r\nX-Caf\xe9: \xe9\r\n\r\n",
	}
	remotes := []string{"127.0.0.1:1", "198.51.100.7:2", "[::1]:3", "@", ""}
	for i, s := range seeds {
		f.Add([]byte(s), remotes[i%len(remotes)], i%2 == 0, "/app")
	}
	f.Fuzz(func(t *testing.T, raw []byte, remote string, trustAll bool, root string) {
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = remote
		r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tcpLocal))
		cfg := &Config{ScriptName: NormalizeRootPath(root)}
		if trustAll {
			cfg.ForwardedAllow, _ = ParseForwardedAllow("*")
		}

		vars := Build(nil, r, cfg)
		checkShape(t, vars) // fixed keys in order, then sorted unique ^HTTP_[A-Z0-9_]+$
		env := make(map[string]string, len(vars))
		for _, v := range vars {
			env[v.Key] = v.Value
		}

		// HTTP_* keys come only from header names made of letters, digits
		// and '-', computed here independently of headerKey.
		want := map[string]bool{}
		for name, vals := range r.Header {
			if len(vals) == 0 || strings.ContainsFunc(name, func(c rune) bool {
				return !(c < 0x80 && isAlnum(byte(c)) || c == '-')
			}) {
				continue
			}
			want["HTTP_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))] = true
		}
		delete(want, "HTTP_CONTENT_TYPE")
		delete(want, "HTTP_CONTENT_LENGTH")
		delete(want, "HTTP_HOST")
		for _, v := range vars {
			if !strings.HasPrefix(v.Key, "HTTP_") || v.Key == "HTTP_HOST" {
				continue
			}
			if !want[v.Key] {
				t.Fatalf("%s does not come from an acceptable header name; headers %q", v.Key, r.Header)
			}
			delete(want, v.Key)
		}
		if len(want) > 0 {
			t.Fatalf("headers missing from environ: %v", want)
		}

		if s := env["wsgi.url_scheme"]; s != "http" && s != "https" {
			t.Fatalf("wsgi.url_scheme = %q", s)
		}
		if !isPort(env["SERVER_PORT"]) {
			t.Fatalf("SERVER_PORT = %q", env["SERVER_PORT"])
		}
		if p, ok := env["REMOTE_PORT"]; ok && !isPort(p) {
			t.Fatalf("REMOTE_PORT = %q", p)
		}

		// An untrusted TCP peer changes nothing through headers.
		if ap, err := netip.ParseAddrPort(remote); err == nil && !trustAll && !trusted(ap.Addr(), nil) {
			wantAddr := remote[:strings.LastIndexByte(remote, ':')]
			wantAddr = strings.TrimSuffix(strings.TrimPrefix(wantAddr, "["), "]")
			if env["REMOTE_ADDR"] != wantAddr {
				t.Fatalf("untrusted peer %q: REMOTE_ADDR = %q", remote, env["REMOTE_ADDR"])
			}
			if env["wsgi.url_scheme"] != "http" {
				t.Fatalf("untrusted peer: scheme %q", env["wsgi.url_scheme"])
			}
			if r.Host != "" && env["HTTP_HOST"] != r.Host {
				t.Fatalf("untrusted peer: HTTP_HOST %q, Host %q", env["HTTP_HOST"], r.Host)
			}
		}

		// Deterministic, and reusing dst gives the same answer.
		first := slices.Clone(vars)
		if again := Build(vars[:0], r, cfg); !slices.Equal(again, first) {
			t.Fatalf("second Build differs:\n%v\n%v", first, again)
		}
	})
}

// FuzzProxyHeaders checks the forwarding parsers on arbitrary header
// values: whatever they return is a clean address, port, scheme and host.
func FuzzProxyHeaders(f *testing.F) {
	f.Add(`for=192.0.2.60;proto=http;by=203.0.113.43`, "", "", "")
	f.Add(`for="[2001:db8:cafe::17]:4711", for=unknown;host="a\"b"`, "", "", "")
	f.Add("", "203.0.113.5, 10.0.0.1:80, [::1]:1", "https", "h.example:1")
	f.Add("", "unknown,,", "HTTP, ftp", "a b")
	allow, _ := ParseForwardedAllow("127.0.0.0/8, 10.0.0.0/8, ::1")
	f.Fuzz(func(t *testing.T, fwd, xff, xfp, xfh string) {
		lines := func(v string) []string {
			if v == "" {
				return nil
			}
			return strings.Split(v, "\n")
		}
		p := fromProxyHeaders(&proxyHeaders{forwarded: lines(fwd), xff: lines(xff), xfp: lines(xfp), xfh: lines(xfh)}, allow)
		if p.addr != "" {
			if _, err := netip.ParseAddr(p.addr); err != nil {
				t.Fatalf("addr %q: %v", p.addr, err)
			}
		} else if p.port != "" {
			t.Fatalf("port %q without addr", p.port)
		}
		if p.port != "" && !isPort(p.port) {
			t.Fatalf("port %q", p.port)
		}
		if p.proto != "" && p.proto != "http" && p.proto != "https" {
			t.Fatalf("proto %q", p.proto)
		}
		if p.host != "" && !validHost(p.host) {
			t.Fatalf("host %q", p.host)
		}
		for s := fwd; s != ""; {
			var e string
			e, s = splitQuoted(s, ',')
			parseForwardedElement(e)
		}
	})
}

func FuzzParseForwardedAllow(f *testing.F) {
	for _, s := range []string{"", "*", "127.0.0.1,::1", "10.0.0.0/8, 2001:db8::/32", "::ffff:1.2.3.0/120", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseForwardedAllow(s)
		if err != nil {
			return
		}
		if len(p) == 0 {
			t.Fatalf("ParseForwardedAllow(%q) returned an empty list", s)
		}
		for _, x := range p {
			if x.IsValid() && x != x.Masked() {
				t.Fatalf("ParseForwardedAllow(%q): %v not masked", s, x)
			}
		}
	})
}
