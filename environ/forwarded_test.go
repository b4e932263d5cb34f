package environ

import (
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestBuildProxyHeaders(t *testing.T) {
	const (
		loopback  = "127.0.0.1:40000"
		untrusted = "198.51.100.7:40000"
	)
	unixLocal := &net.UnixAddr{Name: "/run/gowsgi.sock", Net: "unix"}
	tests := []struct {
		name    string
		remote  string
		local   net.Addr // default tcpLocal
		allow   string   // ParseForwardedAllow input; "" means nil (default)
		headers []string
		want    map[string]string
	}{
		// X-Forwarded-For
		{
			name: "XFF from untrusted peer ignored", remote: untrusted,
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want: map[string]string{"REMOTE_ADDR": "198.51.100.7", "REMOTE_PORT": "40000",
				"HTTP_X_FORWARDED_FOR": "203.0.113.5"},
		},
		{
			name: "XFF from trusted peer", remote: loopback,
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want: map[string]string{"REMOTE_ADDR": "203.0.113.5", "REMOTE_PORT": absent,
				"HTTP_X_FORWARDED_FOR": "203.0.113.5"},
		},
		{
			name: "XFF right-most untrusted wins", remote: "10.0.0.9:1", allow: "127.0.0.1, 10.0.0.0/8",
			headers: []string{"X-Forwarded-For: 6.6.6.6, 203.0.113.5, 10.0.0.2"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "XFF default allow does not trust the chain", remote: loopback,
			headers: []string{"X-Forwarded-For: 6.6.6.6, 10.0.0.2"},
			want:    map[string]string{"REMOTE_ADDR": "10.0.0.2"},
		},
		{
			name: "XFF all trusted gives left-most", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{"X-Forwarded-For: 10.0.0.3, 10.0.0.2"},
			want:    map[string]string{"REMOTE_ADDR": "10.0.0.3"},
		},
		{
			name: "XFF across header lines", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{"X-Forwarded-For: 6.6.6.6, 203.0.113.5", "X-Forwarded-For: 10.0.0.2"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.5, 10.0.0.2"},
		},
		{
			name: "XFF garbage stops the walk", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{"X-Forwarded-For: 203.0.113.5, unknown, 10.0.0.2"},
			want:    map[string]string{"REMOTE_ADDR": "10.0.0.2"},
		},
		{
			name: "XFF garbage only keeps peer", remote: loopback,
			headers: []string{"X-Forwarded-For: not-an-ip"},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000"},
		},
		{
			name: "XFF IPv6 and ports", remote: loopback,
			headers: []string{"X-Forwarded-For: [2001:db8::1]:4711"},
			want:    map[string]string{"REMOTE_ADDR": "2001:db8::1", "REMOTE_PORT": "4711"},
		},
		{
			name: "XFF bare IPv6", remote: "[::1]:5555",
			headers: []string{"X-Forwarded-For: 2001:db8::2"},
			want:    map[string]string{"REMOTE_ADDR": "2001:db8::2", "REMOTE_PORT": absent},
		},
		{
			name: "XFF IPv4 with port", remote: loopback,
			headers: []string{"X-Forwarded-For: 203.0.113.5:8888"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "REMOTE_PORT": "8888"},
		},
		{
			name: "underscore XFF from trusted peer ignored and dropped", remote: loopback,
			headers: []string{"X_Forwarded_For: 6.6.6.6"},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": absent},
		},

		// X-Forwarded-Proto
		{
			name: "XFP from untrusted peer ignored", remote: untrusted,
			headers: []string{"X-Forwarded-Proto: https"},
			want:    map[string]string{"wsgi.url_scheme": "http", "SERVER_PORT": "80", "HTTP_X_FORWARDED_PROTO": "https"},
		},
		{
			name: "XFP from trusted peer", remote: loopback,
			headers: []string{"X-Forwarded-Proto: HTTPS"},
			want:    map[string]string{"wsgi.url_scheme": "https", "SERVER_PORT": "443"},
		},
		{
			name: "XFP right-most value", remote: loopback,
			headers: []string{"X-Forwarded-Proto: http, https"},
			want:    map[string]string{"wsgi.url_scheme": "https"},
		},
		{
			name: "XFP unknown scheme ignored", remote: loopback,
			headers: []string{"X-Forwarded-Proto: ftp"},
			want:    map[string]string{"wsgi.url_scheme": "http"},
		},

		// X-Forwarded-Host
		{
			name: "XFH from untrusted peer ignored", remote: untrusted,
			headers: []string{"X-Forwarded-Host: public.example:8443"},
			want: map[string]string{"HTTP_HOST": "internal", "SERVER_NAME": "internal", "SERVER_PORT": "80",
				"HTTP_X_FORWARDED_HOST": "public.example:8443"},
		},
		{
			name: "XFH from trusted peer", remote: loopback,
			headers: []string{"X-Forwarded-Host: public.example:8443"},
			want:    map[string]string{"HTTP_HOST": "public.example:8443", "SERVER_NAME": "public.example", "SERVER_PORT": "8443"},
		},
		{
			name: "XFH with XFP gives default port 443", remote: loopback,
			headers: []string{"X-Forwarded-Host: public.example", "X-Forwarded-Proto: https"},
			want:    map[string]string{"HTTP_HOST": "public.example", "SERVER_NAME": "public.example", "SERVER_PORT": "443"},
		},
		{
			name: "XFH invalid ignored", remote: loopback,
			headers: []string{"X-Forwarded-Host: evil.example/path"},
			want:    map[string]string{"HTTP_HOST": "internal", "SERVER_NAME": "internal"},
		},
		{
			name: "XFH right-most value", remote: loopback,
			headers: []string{"X-Forwarded-Host: a.example, b.example"},
			want:    map[string]string{"HTTP_HOST": "b.example"},
		},

		// Forwarded
		{
			name: "Forwarded from untrusted peer ignored", remote: untrusted,
			headers: []string{`Forwarded: for=203.0.113.5;proto=https;host=public.example`},
			want: map[string]string{"REMOTE_ADDR": "198.51.100.7", "wsgi.url_scheme": "http", "HTTP_HOST": "internal",
				"HTTP_FORWARDED": `for=203.0.113.5;proto=https;host=public.example`},
		},
		{
			name: "Forwarded from trusted peer", remote: loopback,
			headers: []string{`Forwarded: for="[2001:db8:cafe::17]:4711";proto=https;host="public.example:8443"`},
			want: map[string]string{"REMOTE_ADDR": "2001:db8:cafe::17", "REMOTE_PORT": "4711", "wsgi.url_scheme": "https",
				"HTTP_HOST": "public.example:8443", "SERVER_NAME": "public.example", "SERVER_PORT": "8443"},
		},
		{
			name: "Forwarded case-insensitive names, spaces", remote: loopback,
			headers: []string{`Forwarded: For=203.0.113.5; Proto=HTTPS`},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "wsgi.url_scheme": "https", "SERVER_PORT": "443"},
		},
		{
			name: "Forwarded chain", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{`Forwarded: for=6.6.6.6, for=203.0.113.5;proto=https, for=10.0.0.2;proto=http`},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "wsgi.url_scheme": "https"},
		},
		{
			name: "Forwarded across header lines", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{`Forwarded: for=203.0.113.5`, `Forwarded: for=10.0.0.2`},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "Forwarded obfuscated for keeps peer, uses proto", remote: loopback,
			headers: []string{`Forwarded: for=_hidden;proto=https`},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000", "wsgi.url_scheme": "https"},
		},
		{
			name: "Forwarded unknown stops at the proxy that wrote it", remote: "10.0.0.9:1", allow: "10.0.0.0/8",
			headers: []string{`Forwarded: for=6.6.6.6, for=unknown, for=10.0.0.2`},
			want:    map[string]string{"REMOTE_ADDR": "10.0.0.2"},
		},
		{
			name: "Forwarded obfuscated port", remote: loopback,
			headers: []string{`Forwarded: for="203.0.113.5:_p1"`},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "REMOTE_PORT": absent},
		},
		{
			name: "Forwarded takes precedence over X-Forwarded-*", remote: loopback,
			headers: []string{`Forwarded: for=203.0.113.5`, "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https",
				"X-Forwarded-Host: x.example"},
			want: map[string]string{"REMOTE_ADDR": "203.0.113.5", "wsgi.url_scheme": "http", "HTTP_HOST": "internal"},
		},
		{
			name: "Forwarded malformed element stops the walk", remote: loopback,
			headers: []string{`Forwarded: for=203.0.113.5;for=6.6.6.6`},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.1"},
		},
		{
			name: "Forwarded empty falls back to X-Forwarded-For", remote: loopback,
			headers: []string{"Forwarded: ", "X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "Forwarded quoted comma", remote: loopback,
			headers: []string{`Forwarded: for=203.0.113.5;ext="a,b;c", for=6.6.6.6`},
			want:    map[string]string{"REMOTE_ADDR": "6.6.6.6"},
		},
		{
			name: "Forwarded invalid host ignored", remote: loopback,
			headers: []string{`Forwarded: host="a b"`},
			want:    map[string]string{"HTTP_HOST": "internal"},
		},

		// Peers and allow lists
		{
			name: "unix peer always trusted", remote: "@", local: unixLocal, allow: "",
			headers: []string{"X-Forwarded-For: 203.0.113.5", "X-Forwarded-Proto: https"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5", "wsgi.url_scheme": "https"},
		},
		{
			name: "unix peer trusted even when no TCP peer is", remote: "", local: unixLocal, allow: " ",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			// A PROXY protocol header on a unix listener names the client:
			// it is the peer, and not a trusted one.
			name: "PROXY client on a unix listener", remote: "203.0.113.7:5555", local: unixLocal, allow: "",
			headers: []string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: https"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.7", "REMOTE_PORT": "5555", "wsgi.url_scheme": "http"},
		},
		{
			name: "PROXY client on a unix listener, in the allow list", remote: "10.0.0.2:5555", local: unixLocal, allow: "10.0.0.0/8",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "empty allow list trusts no TCP peer", remote: loopback, allow: " ",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.1"},
		},
		{
			name: "star trusts everyone", remote: untrusted, allow: "*",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "star trusts IPv6 peers", remote: "[2001:db8::9]:1", allow: "*",
			headers: []string{"X-Forwarded-Proto: https"},
			want:    map[string]string{"wsgi.url_scheme": "https"},
		},
		{
			name: "IPv6 loopback trusted by default", remote: "[::1]:5555",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "IPv4-mapped peer matches IPv4 prefix", remote: "[::ffff:127.0.0.1]:5555",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "203.0.113.5"},
		},
		{
			name: "other loopback not in default", remote: "127.0.0.2:1",
			headers: []string{"X-Forwarded-For: 203.0.113.5"},
			want:    map[string]string{"REMOTE_ADDR": "127.0.0.2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{}
			if tt.allow != "" {
				cfg.ForwardedAllow = mustAllow(t, tt.allow)
			}
			local := tt.local
			if local == nil {
				local = tcpLocal
			}
			lines := append([]string{"GET / HTTP/1.1", "Host: internal"}, tt.headers...)
			vars := Build(nil, readRequest(t, tt.remote, local, lines...), cfg)
			checkEnv(t, envMap(t, vars), tt.want)
			checkShape(t, vars)
		})
	}
}

func TestParseForwardedAllow(t *testing.T) {
	pfx := netip.MustParsePrefix
	good := []struct {
		in   string
		want []netip.Prefix
	}{
		{"127.0.0.1", []netip.Prefix{pfx("127.0.0.1/32")}},
		{"127.0.0.1,::1", []netip.Prefix{pfx("127.0.0.1/32"), pfx("::1/128")}},
		{" 10.0.0.0/8 , 192.168.1.7/16 ,", []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.168.0.0/16")}},
		{"2001:db8::/32", []netip.Prefix{pfx("2001:db8::/32")}},
		{"::ffff:10.1.2.3", []netip.Prefix{pfx("10.1.2.3/32")}},
		{"::ffff:10.0.0.0/104", []netip.Prefix{pfx("10.0.0.0/8")}},
		{"*", []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}},
		{"10.0.0.1, *", []netip.Prefix{pfx("0.0.0.0/0"), pfx("::/0")}},
		{"", []netip.Prefix{{}}},
		{" , ", []netip.Prefix{{}}},
	}
	for _, tt := range good {
		got, err := ParseForwardedAllow(tt.in)
		if err != nil {
			t.Errorf("ParseForwardedAllow(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseForwardedAllow(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, in := range []string{"localhost", "10.0.0.1/33", "1.2.3", "10.0.0.1 10.0.0.2", "fe80::1%eth0",
		"fe80::1%eth0/64", "*x", "10.0.0.0/8/8"} {
		_, err := ParseForwardedAllow(in)
		if err == nil {
			t.Errorf("ParseForwardedAllow(%q) succeeded, want error", in)
			continue
		}
		// The caller names the flag (it parses --proxy-allow-from too).
		if strings.Contains(err.Error(), "forwarded-allow-ips") || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseForwardedAllow(%q) error %q: want the item and no flag name", in, err)
		}
	}
}

func TestTrusted(t *testing.T) {
	a := netip.MustParseAddr
	none := []netip.Prefix{{}}
	all, _ := ParseForwardedAllow("*")
	tests := []struct {
		addr  netip.Addr
		allow []netip.Prefix
		want  bool
	}{
		{a("127.0.0.1"), nil, true},
		{a("::1"), nil, true},
		{a("::ffff:127.0.0.1"), nil, true},
		{a("fe80::1%eth0"), []netip.Prefix{netip.MustParsePrefix("fe80::/10")}, true},
		{a("127.0.0.2"), nil, false},
		{a("127.0.0.1"), none, false},
		{netip.Addr{}, all, false},
		{a("8.8.8.8"), all, true},
		{a("2001:db8::1"), all, true},
	}
	for _, tt := range tests {
		if got := trusted(tt.addr, tt.allow); got != tt.want {
			t.Errorf("trusted(%v, %v) = %v, want %v", tt.addr, tt.allow, got, tt.want)
		}
	}
}

func TestParseNode(t *testing.T) {
	tests := []struct {
		in, text, port string
		ok             bool
	}{
		{"192.0.2.1", "192.0.2.1", "", true},
		{"192.0.2.1:80", "192.0.2.1", "80", true},
		{"192.0.2.1:_obf", "192.0.2.1", "", true},
		{"2001:db8::1", "2001:db8::1", "", true},
		{"[2001:db8::1]", "2001:db8::1", "", true},
		{"[2001:db8::1]:443", "2001:db8::1", "443", true},
		{"[::ffff:1.2.3.4]:1", "::ffff:1.2.3.4", "1", true},
		{"fe80::1%eth0", "fe80::1%eth0", "", true},
		{"[192.0.2.1]", "", "", false},
		{"[2001:db8::1]x", "", "", false},
		{"[2001:db8::1", "", "", false},
		{"[2001:db8::1]:123456", "", "", false},
		{"[2001:db8::1]:8a", "", "", false},
		{"192.0.2.1:", "192.0.2.1", "", true},
		{"192.0.2.1:x", "", "", false},
		{"unknown", "", "", false},
		{"_hidden", "", "", false},
		{"", "", "", false},
		{"example.com:80", "", "", false},
		{"1.2.3.4.5", "", "", false},
		{"01.2.3.4", "", "", false},
	}
	for _, tt := range tests {
		_, text, port, ok := parseNode(tt.in)
		if ok != tt.ok || text != tt.text || port != tt.port {
			t.Errorf("parseNode(%q) = %q, %q, %v; want %q, %q, %v", tt.in, text, port, ok, tt.text, tt.port, tt.ok)
		}
	}
}

func TestParseForwardedElement(t *testing.T) {
	tests := []struct {
		in   string
		want forwardedElement
		ok   bool
	}{
		{`for=192.0.2.60;proto=http;by=203.0.113.43`, forwardedElement{For: "192.0.2.60", Proto: "http"}, true},
		{`for="[2001:db8:cafe::17]:4711"`, forwardedElement{For: "[2001:db8:cafe::17]:4711"}, true},
		{`FOR=a; Host="ex\"ample"`, forwardedElement{For: "a", Host: `ex"ample`}, true},
		{`for=[::1]:80`, forwardedElement{For: "[::1]:80"}, true},
		{`host=h;ext=1;ext2="x;y"`, forwardedElement{Host: "h"}, true},
		{`for=a;;proto=https`, forwardedElement{For: "a", Proto: "https"}, true},
		{``, forwardedElement{}, true},
		{`for=a;for=b`, forwardedElement{}, false},
		{`by=a;by=b`, forwardedElement{}, false},
		{`for`, forwardedElement{}, false},
		{`=a`, forwardedElement{}, false},
		{`for=`, forwardedElement{}, false},
		{`for="unterminated`, forwardedElement{}, false},
		{`for="a"b"`, forwardedElement{}, false},
		{`for="a\"`, forwardedElement{}, false},
		{`for=a b`, forwardedElement{}, false},
		{`f(o)r=a`, forwardedElement{}, false},
		{`for=a,b`, forwardedElement{}, false},
	}
	for _, tt := range tests {
		got, ok := parseForwardedElement(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseForwardedElement(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitQuoted(t *testing.T) {
	var got []string
	for s := `for=a, for="x,\",y";proto=https ,, host=b`; s != ""; {
		var e string
		e, s = splitQuoted(s, ',')
		got = append(got, e)
	}
	want := []string{"for=a", `for="x,\",y";proto=https`, "", "host=b"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestUnquoteString(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{`"abc"`, "abc", true},
		{`""`, "", true},
		{`"a\"b"`, `a"b`, true},
		{`"a\\b"`, `a\b`, true},
		{`"a\b"`, `ab`, true},
		{`"a"b"`, "", false},
		{`"a\"`, "", false},
		{`"`, "", false},
		{`abc`, "", false},
		{`"abc`, "", false},
	}
	for _, tt := range tests {
		got, ok := unquoteString(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("unquoteString(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClientFromXFF(t *testing.T) {
	allow := mustAllow(t, "10.0.0.0/8")
	tests := []struct {
		lines      []string
		addr, port string
	}{
		{nil, "", ""},
		{[]string{""}, "", ""},
		{[]string{" , ,"}, "", ""},
		{[]string{"1.1.1.1"}, "1.1.1.1", ""},
		{[]string{"1.1.1.1,,10.0.0.1,"}, "1.1.1.1", ""},
		{[]string{"2.2.2.2, 1.1.1.1:99"}, "1.1.1.1", "99"},
		{[]string{"10.0.0.5:7, 10.0.0.1"}, "10.0.0.5", "7"},
		{[]string{"bad, 10.0.0.1"}, "10.0.0.1", ""},
		{[]string{"1.1.1.1", "bad"}, "", ""},
	}
	for _, tt := range tests {
		addr, port := clientFromXFF(tt.lines, allow)
		if addr != tt.addr || port != tt.port {
			t.Errorf("clientFromXFF(%q) = %q, %q; want %q, %q", tt.lines, addr, port, tt.addr, tt.port)
		}
	}
}

func TestValidHost(t *testing.T) {
	for in, want := range map[string]bool{
		"example.com":        true,
		"example.com:8080":   true,
		"example.com:":       true,
		"EXAMPLE.com":        true,
		"192.0.2.1:80":       true,
		"[2001:db8::1]":      true,
		"[2001:db8::1]:443":  true,
		"xn--bcher-kva.ch":   true,
		"":                   false,
		":80":                false,
		"a b":                false,
		"a/b":                false,
		"a,b":                false,
		"a@b":                false,
		"a:b:c":              false,
		"a:123456":           false,
		"[2001:db8::1":       false,
		"[2001:db8::1]x":     false,
		"[zz]":               false,
		"caf\xe9.example":    false,
		"a\r\nSet-Cookie: x": false,
	} {
		if got := validHost(in); got != want {
			t.Errorf("validHost(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestProxyHeadersNoAllocs(t *testing.T) {
	r := readRequest(t, "127.0.0.1:1", tcpLocal, "GET / HTTP/1.1", "Host: h",
		"X-Forwarded-For: 203.0.113.5, 10.0.0.1", "X-Forwarded-Proto: https", "X-Forwarded-Host: p.example")
	allow := mustAllow(t, "127.0.0.1,10.0.0.0/8")
	h := &proxyHeaders{xff: r.Header["X-Forwarded-For"], xfp: r.Header["X-Forwarded-Proto"],
		xfh: r.Header["X-Forwarded-Host"]}
	if n := testing.AllocsPerRun(100, func() { fromProxyHeaders(h, allow) }); n != 0 {
		t.Errorf("X-Forwarded-* parsing allocates %v times", n)
	}
	r = readRequest(t, "127.0.0.1:1", tcpLocal, "GET / HTTP/1.1", "Host: h",
		`Forwarded: for=203.0.113.5;proto=https;host="p.example", for="[2001:db8::1]:80"`)
	h = &proxyHeaders{forwarded: r.Header["Forwarded"]}
	if n := testing.AllocsPerRun(100, func() { fromProxyHeaders(h, allow) }); n != 0 {
		t.Errorf("Forwarded parsing allocates %v times", n)
	}
}

func TestSecureSchemeHeadersPortAndPrefix(t *testing.T) {
	secure, err := ParseSecureSchemeHeaders("X-FORWARDED-SSL=on, X-FORWARDED-PROTOCOL=ssl")
	if err != nil || len(secure) != 2 || secure[0].Name != "X-Forwarded-Ssl" {
		t.Fatalf("parse: %v %v", secure, err)
	}
	if _, err := ParseSecureSchemeHeaders("X-BAD"); err == nil {
		t.Fatal("a pair without = must be refused")
	}
	cfg := &Config{SecureSchemeHeaders: secure, ForwardedPrefix: true}
	build := func(remote string, headers ...string) map[string]string {
		r := httptest.NewRequest("GET", "http://h/app/x?q=1", nil)
		r.RequestURI = "/app/x?q=1"
		r.RemoteAddr = remote
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Add(headers[i], headers[i+1])
		}
		env := map[string]string{}
		for _, v := range Build(nil, r, cfg) {
			env[v.Key] = v.Value
		}
		return env
	}
	env := build("127.0.0.1:1234", "X-Forwarded-Ssl", "ON", "X-Forwarded-Port", "8443", "X-Forwarded-Prefix", "/app")
	if env["wsgi.url_scheme"] != "https" || env["SERVER_PORT"] != "8443" || env["SCRIPT_NAME"] != "/app" || env["PATH_INFO"] != "/x" {
		t.Errorf("trusted: %v", env)
	}
	env = build("192.0.2.7:1234", "X-Forwarded-Ssl", "on", "X-Forwarded-Port", "8443", "X-Forwarded-Prefix", "/app")
	if env["wsgi.url_scheme"] != "http" || env["SERVER_PORT"] != "80" || env["SCRIPT_NAME"] != "" || env["PATH_INFO"] != "/app/x" {
		t.Errorf("untrusted peer changed the environ: %v", env)
	}
	// A secure header that is not an X-Forwarded-* one counts on its own.
	cfg.SecureSchemeHeaders = []SecureHeader{{Name: "X-Is-Secure", Value: "yes"}}
	if env = build("127.0.0.1:1234", "X-Is-Secure", "yes"); env["wsgi.url_scheme"] != "https" {
		t.Errorf("custom secure header alone: %v", env)
	}
	env = build("127.0.0.1:1234", "X-Forwarded-Prefix", "/evil path")
	if env["SCRIPT_NAME"] != "" {
		t.Errorf("an invalid prefix was used: %v", env)
	}
}
