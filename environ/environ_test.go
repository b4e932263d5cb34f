package environ

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	const peer = "192.0.2.10:54321"
	tests := []struct {
		name   string
		lines  []string
		remote string   // default peer
		local  net.Addr // default tcpLocal
		cfg    *Config
		mutate func(*http.Request)
		want   map[string]string
	}{
		{
			name:  "basic GET",
			lines: []string{"GET /hello/world?a=1&b=%20x HTTP/1.1", "Host: example.com", "User-Agent: ua/1.0"},
			want: map[string]string{
				"REQUEST_METHOD":  "GET",
				"SCRIPT_NAME":     "",
				"PATH_INFO":       "/hello/world",
				"QUERY_STRING":    "a=1&b=%20x",
				"CONTENT_TYPE":    absent,
				"CONTENT_LENGTH":  absent, // no Content-Length header: none, as gunicorn
				"SERVER_NAME":     "example.com",
				"SERVER_PORT":     "80",
				"SERVER_PROTOCOL": "HTTP/1.1",
				"REMOTE_ADDR":     "192.0.2.10",
				"REMOTE_PORT":     "54321",
				"RAW_URI":         "/hello/world?a=1&b=%20x",
				"REQUEST_URI":     "/hello/world?a=1&b=%20x",
				"wsgi.url_scheme": "http",
				"HTTP_HOST":       "example.com",
				"HTTP_USER_AGENT": "ua/1.0",
			},
		},
		{
			name:  "no query",
			lines: []string{"GET / HTTP/1.1", "Host: h"},
			want:  map[string]string{"PATH_INFO": "/", "QUERY_STRING": ""},
		},
		{
			name:  "empty query",
			lines: []string{"GET /p? HTTP/1.1", "Host: h"},
			want:  map[string]string{"PATH_INFO": "/p", "QUERY_STRING": "", "RAW_URI": "/p?"},
		},
		{
			name: "POST with length and type",
			lines: []string{"POST /submit HTTP/1.1", "Host: h", "Content-Type: application/x-www-form-urlencoded",
				"Content-Length: 12345"},
			want: map[string]string{
				"REQUEST_METHOD":      "POST",
				"CONTENT_TYPE":        "application/x-www-form-urlencoded",
				"CONTENT_LENGTH":      "12345",
				"HTTP_CONTENT_TYPE":   absent,
				"HTTP_CONTENT_LENGTH": absent,
			},
		},
		{
			name:  "chunked has no CONTENT_LENGTH",
			lines: []string{"POST /up HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", "Content-Type: text/plain"},
			want: map[string]string{
				"CONTENT_LENGTH":         absent,
				"CONTENT_TYPE":           "text/plain",
				"HTTP_TRANSFER_ENCODING": absent,
			},
		},
		{
			name:   "HTTP/2 unknown length",
			lines:  []string{"POST /up HTTP/1.1", "Host: h"},
			mutate: func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor, r.ContentLength = "HTTP/2.0", 2, 0, -1 },
			want:   map[string]string{"CONTENT_LENGTH": absent, "SERVER_PROTOCOL": "HTTP/2.0"},
		},
		{
			name: "underscore headers dropped",
			lines: []string{"GET / HTTP/1.1", "Host: h", "X_Forwarded_For: 6.6.6.6", "Foo_Bar: 1",
				"X-Real: ok"},
			want: map[string]string{
				"HTTP_X_FORWARDED_FOR": absent,
				"HTTP_FOO_BAR":         absent,
				"HTTP_X_REAL":          "ok",
			},
		},
		{
			name:  "names with other token characters dropped",
			lines: []string{"GET / HTTP/1.1", "Host: h", "X.Dot: 1", "X!Bang: 2", "X-9: nine"},
			want:  map[string]string{"HTTP_X.DOT": absent, "HTTP_X_DOT": absent, "HTTP_X!BANG": absent, "HTTP_X_9": "nine"},
		},
		{
			name:  "latin-1 bytes kept",
			lines: []string{"GET /caf%E9/%C3%A9?q=caf%E9 HTTP/1.1", "Host: h", "X-Name: caf\xe9"},
			want: map[string]string{
				"PATH_INFO":    "/caf\xe9/\xc3\xa9",
				"QUERY_STRING": "q=caf%E9",
				"HTTP_X_NAME":  "caf\xe9",
			},
		},
		{
			name:  "%2F decodes to slash",
			lines: []string{"GET /a%2Fb%2fc HTTP/1.1", "Host: h"},
			want:  map[string]string{"PATH_INFO": "/a/b/c", "RAW_URI": "/a%2Fb%2fc"},
		},
		{
			// net/http answers 400 to these; Build must still cope.
			name:   "invalid escapes stay literal",
			lines:  []string{"GET / HTTP/1.1", "Host: h"},
			mutate: func(r *http.Request) { r.RequestURI = "/a%zz%4%%41%g1+b%?x=%zz" },
			want:   map[string]string{"PATH_INFO": "/a%zz%4%A%g1+b%", "QUERY_STRING": "x=%zz"},
		},
		{
			name:  "escape at end",
			lines: []string{"GET /a%41 HTTP/1.1", "Host: h"},
			want:  map[string]string{"PATH_INFO": "/aA"},
		},
		{
			name:  "fragment cut from path and query",
			lines: []string{"GET /p#frag?x HTTP/1.1", "Host: h"},
			want:  map[string]string{"PATH_INFO": "/p", "QUERY_STRING": "", "RAW_URI": "/p#frag?x"},
		},
		{
			name:  "root path strips prefix",
			lines: []string{"GET /app/x/y?q HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app"},
			want:  map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/x/y", "QUERY_STRING": "q"},
		},
		{
			name:  "root path exact",
			lines: []string{"GET /app HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app"},
			want:  map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": ""},
		},
		{
			name:  "root path partial segment not stripped",
			lines: []string{"GET /appx/y HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app"},
			want:  map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/appx/y"},
		},
		{
			name:  "root path no match keeps full path",
			lines: []string{"GET /other HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app"},
			want:  map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/other"},
		},
		{
			name:  "root path compared with the decoded path",
			lines: []string{"GET /my%20app/x HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/my app"},
			want:  map[string]string{"SCRIPT_NAME": "/my app", "PATH_INFO": "/x"},
		},
		{
			name:  "root path slash is empty",
			lines: []string{"GET /x HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/"},
			want:  map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/x"},
		},
		{
			name:  "root path trailing slash normalised",
			lines: []string{"GET /app/x HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app/"},
			want:  map[string]string{"SCRIPT_NAME": "/app", "PATH_INFO": "/x"},
		},
		{
			name:  "absolute-form",
			lines: []string{"GET http://example.com:8080/p/%41?x=1 HTTP/1.1", "Host: ignored.example"},
			want: map[string]string{
				"PATH_INFO":    "/p/A",
				"QUERY_STRING": "x=1",
				"RAW_URI":      "http://example.com:8080/p/%41?x=1",
				"REQUEST_URI":  "http://example.com:8080/p/%41?x=1",
				"HTTP_HOST":    "example.com:8080", // net/http takes the URI's authority
				"SERVER_NAME":  "example.com",
				"SERVER_PORT":  "8080",
			},
		},
		{
			name:  "absolute-form without path",
			lines: []string{"GET http://example.com?x=1 HTTP/1.1", "Host: example.com"},
			want:  map[string]string{"PATH_INFO": "/", "QUERY_STRING": "x=1"},
		},
		{
			name:  "OPTIONS *",
			lines: []string{"OPTIONS * HTTP/1.1", "Host: h"},
			cfg:   &Config{ScriptName: "/app"},
			want:  map[string]string{"REQUEST_METHOD": "OPTIONS", "PATH_INFO": "*", "QUERY_STRING": "", "RAW_URI": "*"},
		},
		{
			name:  "CONNECT authority-form",
			lines: []string{"CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"},
			want:  map[string]string{"REQUEST_METHOD": "CONNECT", "PATH_INFO": "", "QUERY_STRING": "", "RAW_URI": "example.com:443"},
		},
		{
			name:   "IPv6 peer",
			lines:  []string{"GET / HTTP/1.1", "Host: h"},
			remote: "[2001:db8::7]:1234",
			want:   map[string]string{"REMOTE_ADDR": "2001:db8::7", "REMOTE_PORT": "1234"},
		},
		{
			name:   "IPv6 loopback peer",
			lines:  []string{"GET / HTTP/1.1", "Host: h"},
			remote: "[::1]:1234",
			want:   map[string]string{"REMOTE_ADDR": "::1", "REMOTE_PORT": "1234"},
		},
		{
			name: "repeated headers joined in order",
			lines: []string{"GET / HTTP/1.1", "Host: h", "Accept: text/html", "X-Multi: b", "Accept: */*",
				"X-Multi: a", "Cookie: a=1", "Cookie: b=2"},
			want: map[string]string{
				"HTTP_ACCEPT":  "text/html, */*",
				"HTTP_X_MULTI": "b, a",
				"HTTP_COOKIE":  "a=1; b=2",
			},
		},
		{
			name:  "Host with port",
			lines: []string{"GET / HTTP/1.1", "Host: Example.COM:8443"},
			want:  map[string]string{"HTTP_HOST": "Example.COM:8443", "SERVER_NAME": "Example.COM", "SERVER_PORT": "8443"},
		},
		{
			name:  "Host IPv6 literal",
			lines: []string{"GET / HTTP/1.1", "Host: [2001:db8::1]:8443"},
			want:  map[string]string{"SERVER_NAME": "[2001:db8::1]", "SERVER_PORT": "8443"},
		},
		{
			name:  "Host IPv6 literal without port",
			lines: []string{"GET / HTTP/1.1", "Host: [::1]"},
			want:  map[string]string{"SERVER_NAME": "[::1]", "SERVER_PORT": "80"},
		},
		{
			name:  "Host with bad port uses default",
			lines: []string{"GET / HTTP/1.1", "Host: h:abc"},
			want:  map[string]string{"SERVER_NAME": "h", "SERVER_PORT": "80", "HTTP_HOST": "h:abc"},
		},
		{
			name:   "TLS",
			lines:  []string{"GET / HTTP/1.1", "Host: secure.example"},
			mutate: func(r *http.Request) { r.TLS = &tls.ConnectionState{} },
			want:   map[string]string{"wsgi.url_scheme": "https", "SERVER_NAME": "secure.example", "SERVER_PORT": "443"},
		},
		{
			name:  "HTTP/1.0 without Host uses listener address",
			lines: []string{"GET /old HTTP/1.0"},
			want: map[string]string{
				"SERVER_PROTOCOL": "HTTP/1.0",
				"SERVER_NAME":     "10.0.0.1",
				"SERVER_PORT":     "8000",
				"HTTP_HOST":       absent,
			},
		},
		{
			name:  "no Host, IPv6 listener",
			lines: []string{"GET /old HTTP/1.0"},
			local: &net.TCPAddr{IP: net.IPv6loopback, Port: 9000},
			want:  map[string]string{"SERVER_NAME": "[::1]", "SERVER_PORT": "9000"},
		},
		{
			name:   "unix socket peer",
			lines:  []string{"GET / HTTP/1.1", "Host: h"},
			remote: "@",
			local:  &net.UnixAddr{Name: "/run/app.sock", Net: "unix"},
			want:   map[string]string{"REMOTE_ADDR": "", "REMOTE_PORT": absent},
		},
		{
			name:   "unix socket peer without Host",
			lines:  []string{"GET / HTTP/1.0"},
			remote: "",
			local:  &net.UnixAddr{Name: "/run/app.sock", Net: "unix"},
			want:   map[string]string{"SERVER_NAME": "localhost", "SERVER_PORT": "80", "REMOTE_ADDR": ""},
		},
		{
			name:  "Content-Type repeated takes first",
			lines: []string{"POST / HTTP/1.1", "Host: h", "Content-Type: text/plain", "Content-Type: text/html", "Content-Length: 0"},
			want:  map[string]string{"CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "0"},
		},
		{
			name:  "small content length",
			lines: []string{"POST / HTTP/1.1", "Host: h", "Content-Length: 42"},
			want:  map[string]string{"CONTENT_LENGTH": "42"},
		},
		{
			name:  "Expect and other hop headers pass through",
			lines: []string{"POST / HTTP/1.1", "Host: h", "Expect: 100-continue", "Connection: keep-alive", "Content-Length: 1"},
			want:  map[string]string{"HTTP_EXPECT": "100-continue", "HTTP_CONNECTION": "keep-alive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := tt.remote
			if remote == "" && tt.name != "unix socket peer without Host" {
				remote = peer
			}
			local := tt.local
			if local == nil {
				local = tcpLocal
			}
			r := readRequest(t, remote, local, tt.lines...)
			if tt.mutate != nil {
				tt.mutate(r)
			}
			vars := Build(nil, r, tt.cfg)
			checkEnv(t, envMap(t, vars), tt.want)
			checkShape(t, vars)
		})
	}
}

var httpKeyRE = regexp.MustCompile(`^HTTP_[A-Z0-9_]+$`)

// checkShape checks the invariants every Build result has: fixed keys in
// their documented order, then sorted HTTP_* keys.
func checkShape(t testing.TB, vars []Var) {
	t.Helper()
	last := -1
	i := 0
	for ; i < len(vars); i++ {
		idx := KeyIndex(vars[i].Key)
		if idx < 0 || idx >= numCGIKeys {
			break
		}
		if idx <= last {
			t.Fatalf("key %q out of order in %v", vars[i].Key, vars)
		}
		last = idx
	}
	for _, k := range []string{"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
		"SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "RAW_URI", "REQUEST_URI", "wsgi.url_scheme"} {
		if !slices.ContainsFunc(vars[:i], func(v Var) bool { return v.Key == k }) {
			t.Fatalf("required key %q missing from %v", k, vars)
		}
	}
	h := vars[i:]
	for j, v := range h {
		if !httpKeyRE.MatchString(v.Key) {
			t.Fatalf("unexpected key %q in %v", v.Key, vars)
		}
		if j > 0 && h[j-1].Key >= v.Key {
			t.Fatalf("HTTP_* keys not sorted and unique: %q then %q", h[j-1].Key, v.Key)
		}
	}
}

func TestBuildOrder(t *testing.T) {
	r := readRequest(t, "192.0.2.1:1000", tcpLocal,
		"POST /p?q HTTP/1.1", "Host: h", "Zed: z", "Content-Type: t", "Content-Length: 3", "Accept: a", "X-B: b")
	var got []string
	for _, v := range Build(nil, r, nil) {
		got = append(got, v.Key)
	}
	want := []string{"REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
		"SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "RAW_URI", "REQUEST_URI",
		"wsgi.url_scheme", "HTTP_ACCEPT", "HTTP_HOST", "HTTP_X_B", "HTTP_ZED"}
	if !slices.Equal(got, want) {
		t.Errorf("keys\n got %v\nwant %v", got, want)
	}
}

func TestBuildReusesDst(t *testing.T) {
	r := readRequest(t, "192.0.2.1:1000", tcpLocal, "GET / HTTP/1.1", "Host: h", "Accept: a")
	first := Build(nil, r, nil)
	again := Build(first[:0], r, nil)
	if &first[0] != &again[0] {
		t.Error("Build did not reuse dst's array")
	}
	prefix := []Var{{"keep", "me"}}
	out := Build(prefix, r, nil)
	if out[0] != (Var{"keep", "me"}) || len(out) != len(first)+1 {
		t.Errorf("Build did not append after existing entries: %v", out)
	}
}

// TestBuildHandBuilt covers requests not made by net/http's server: empty
// RequestURI, no local address, non-canonical header names.
func TestBuildHandBuilt(t *testing.T) {
	u, _ := url.Parse("http://example.com/a%20b?x=1")
	r := &http.Request{
		URL:           u,
		Host:          "example.com",
		Header:        http.Header{"x-a": {"1"}, "X-A": {"2"}, "host": {"evil"}, "content-type": {"t"}},
		ContentLength: -1,
	}
	vars := Build(nil, r, nil)
	env := envMap(t, vars)
	checkEnv(t, env, map[string]string{
		"REQUEST_METHOD":    "GET",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"PATH_INFO":         "/a b",
		"QUERY_STRING":      "x=1",
		"RAW_URI":           "/a%20b?x=1",
		"REMOTE_ADDR":       "",
		"HTTP_X_A":          "1, 2",
		"HTTP_HOST":         "example.com",
		"HTTP_CONTENT_TYPE": absent,
		"CONTENT_LENGTH":    absent,
	})
	checkShape(t, vars)

	// Build must not change the request.
	r2 := httptestRequest("GET", "/x")
	before := r2.Header.Clone()
	_ = Build(nil, r2, &Config{ScriptName: "/x"})
	if len(before) != len(r2.Header) {
		t.Error("Build changed r.Header")
	}
}

func httptestRequest(method, target string) *http.Request {
	r, _ := http.NewRequestWithContext(context.Background(), method, "http://h"+target, nil)
	r.RequestURI = target
	r.RemoteAddr = "192.0.2.1:1"
	r.Header.Set("X-One", "1")
	return r
}

func TestNormalizeRootPath(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"/":         "",
		"//":        "",
		" / ":       "",
		"/app":      "/app",
		"/app/":     "/app",
		"/app//":    "/app",
		"app":       "/app",
		"app/":      "/app",
		"/a/b/":     "/a/b",
		" /prefix ": "/prefix",
	} {
		if got := NormalizeRootPath(in); got != want {
			t.Errorf("NormalizeRootPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"/", "/", ""},
		{"/a?b?c", "/a", "b?c"},
		{"*", "*", ""},
		{"", "", ""},
		{"http://h", "/", ""},
		{"http://h/", "/", ""},
		{"https://h:1/x?y#z", "/x", "y"},
		{"http://h#f", "/", ""},
		{"http://h?q#f", "/", "q"},
		{"h:443", "", ""},
		{"//double", "//double", ""},
	}
	for _, tt := range tests {
		p, q := splitTarget(tt.in)
		if p != tt.path || q != tt.query {
			t.Errorf("splitTarget(%q) = %q, %q; want %q, %q", tt.in, p, q, tt.path, tt.query)
		}
	}
}

func TestUnquotePath(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":    "/plain",
		"/%41%42":   "/AB",
		"/%e9":      "/\xe9",
		"/%":        "/%",
		"/%4":       "/%4",
		"/%4g":      "/%4g",
		"%%%41":     "%%A",
		"/%00":      "/\x00",
		"/%FF%fF":   "/\xff\xff",
		"/+":        "/+",
		"/%2F%2f":   "///",
		"/%zz/%41z": "/%zz/Az",
	} {
		if got := unquotePath(in); got != want {
			t.Errorf("unquotePath(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { unquotePath("/no/escapes/%zz") }); n != 0 {
		t.Errorf("unquotePath without escapes allocates %v times", n)
	}
}

// headerKey is Build's header-name mapping: "" means dropped.
func headerKey(name string) string {
	switch k := commonHeader(name); {
	case k < 0:
		return uncommonHeaderKey(name)
	case k < numCGIKeys:
		return "" // Content-Type, Content-Length
	default:
		return knownKeys[k]
	}
}

func TestHeaderKey(t *testing.T) {
	for in, want := range map[string]string{
		"Accept":          "HTTP_ACCEPT",
		"X-Custom-Thing":  "HTTP_X_CUSTOM_THING",
		"x-lower":         "HTTP_X_LOWER",
		"X-9":             "HTTP_X_9",
		"X_Under":         "",
		"X.Dot":           "",
		"":                "",
		"X Space":         "",
		"X-\xe9":          "",
		"Content-Type":    "",
		"Content-Length":  "",
		"X-Forwarded-For": "HTTP_X_FORWARDED_FOR",
	} {
		if got := headerKey(in); got != want {
			t.Errorf("headerKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCommonHeaderTable(t *testing.T) {
	// Every table entry must be what headerKey would compute for the
	// canonical name, and every known HTTP_ key must be reachable from it.
	for _, k := range KnownKeys()[numCGIKeys:] {
		name := http.CanonicalHeaderKey(strings.ReplaceAll(strings.TrimPrefix(k, "HTTP_"), "_", "-"))
		if got := commonHeader(name); got != KeyIndex(k) {
			t.Errorf("commonHeader(%q) = %d, want %d", name, got, KeyIndex(k))
		}
		if got := uncommonHeaderKey(name); got != k {
			t.Errorf("uncommonHeaderKey(%q) = %q, want %q", name, got, k)
		}
	}
	if !slices.IsSorted(rankedKeys[:]) {
		t.Error("rankedKeys not sorted")
	}
	for i, k := range knownKeys[numCGIKeys:] {
		if rankedKeys[headerRank[i]] != k {
			t.Errorf("rank of %q wrong", k)
		}
	}
}

func TestKnownKeys(t *testing.T) {
	keys := KnownKeys()
	if len(keys) != numKnownKeys {
		t.Fatalf("len = %d", len(keys))
	}
	seen := map[string]bool{}
	for i, k := range keys {
		if seen[k] {
			t.Errorf("duplicate %q", k)
		}
		seen[k] = true
		if got := KeyIndex(k); got != i {
			t.Errorf("KeyIndex(%q) = %d, want %d", k, got, i)
		}
		if i >= numCGIKeys && !httpKeyRE.MatchString(k) {
			t.Errorf("key %d %q is not an HTTP_ key", i, k)
		}
	}
	for _, k := range []string{"", "HTTP_", "HTTP_X_UNKNOWN", "request_method", "wsgi.input", "HTTP_CONTENT_TYPE"} {
		if got := KeyIndex(k); got != -1 {
			t.Errorf("KeyIndex(%q) = %d, want -1", k, got)
		}
	}
	keys[0] = "mutated"
	if KnownKeys()[0] != "REQUEST_METHOD" {
		t.Error("KnownKeys returned shared storage")
	}
}
