package main

// Differential test against gunicorn: the same 200+ raw requests go to
// gunicorn and to gowsgi, both serving testdata/apps/environ_dump.py, and
// the status and environ must agree. Every difference that remains after
// normalising what must differ (ports, server names, object types) is
// listed in docs/compatibility.md with its reason; diffAllowed below
// mirrors that document, rule for rule (its IDs are the document's). A
// difference no rule explains fails the test.

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gunicornServer is a running gunicorn.
type gunicornServer struct {
	cmd    *exec.Cmd
	addr   string
	port   string
	log    *syncBuffer
	exited chan struct{}
}

// startGunicorn runs <venv>/bin/gunicorn on environ_dump, or skips.
func startGunicorn(t *testing.T) *gunicornServer {
	t.Helper()
	requireVenv(t)
	bin := filepath.Join(testVenv, "bin", "gunicorn")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no gunicorn in the test venv: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	g := &gunicornServer{addr: addr, log: &syncBuffer{}, exited: make(chan struct{})}
	_, g.port, _ = net.SplitHostPort(addr)
	g.cmd = exec.Command(bin, "--bind", addr, "--chdir", filepath.Join(repoRoot, "testdata", "apps"), "environ_dump:application")
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start gunicorn: %v", err)
	}
	go func() { g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-g.exited:
			t.Fatalf("gunicorn exited:\n%s", g.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not listen on %s:\n%s", addr, g.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return g
}

// diffRequest is one generated request.
type diffRequest struct {
	name   string
	raw    string
	isHead bool // a HEAD: no environ comes back, statuses are compared
}

// differentialRequests generates the requests, deterministically.
func differentialRequests() []diffRequest {
	var out []diffRequest
	add := func(name, raw string) {
		out = append(out, diffRequest{name: name, raw: raw, isHead: strings.HasPrefix(raw, "HEAD ")})
	}
	get := func(target string, headers ...string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(headers, "") + "\r\n"
	}
	withBody := func(method, target, body string, headers ...string) string {
		return fmt.Sprintf("%s %s HTTP/1.1\r\nHost: example.com\r\n%sContent-Length: %d\r\n\r\n%s", method, target, strings.Join(headers, ""), len(body), body)
	}
	chunked := func(target string, chunks []string, trailer string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n", target)
		for _, c := range chunks {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
		}
		b.WriteString("0\r\n" + trailer + "\r\n")
		return b.String()
	}

	// Paths, percent-encodings included.
	paths := []string{
		"/", "/a", "/a/b/c", "/a/", "/a%2Fb", "/a%2fb", "/%25", "/%2525", "/caf%E9", "/caf%C3%A9",
		"/sp%20ace", "/plus+sign", "/semi;colon=1", "/a/./b/../c", "//double//slash", "/~user", "/%7Euser",
		"/%41%42%43", "/%e9%E9", "/%", "/%zz", "/%2", "/a%00b", "/%FF%FE", "/quote'%22", "/colon:at@",
		"/comma,bang!dollar$", "/star*paren()", "/%2e%2e/%2e", "/a%2Fb%25c%E9d",
	}
	for _, p := range paths {
		add("path "+p, get(p))
	}
	// Query strings.
	queries := []string{
		"?", "?a=1", "?a=1&a=2", "?a=1&b=2", "?q=%20%2B+x", "?a=%E9", "?x=/y?z", "?%00", "?a=b=c",
		"?&&", "?a", "?%zz", "?a=1;b=2", "?caf%C3%A9=%C3%A9", "?x=" + strings.Repeat("q", 1000),
	}
	for _, q := range queries {
		add("query "+q[:min(len(q), 20)], get("/q"+q))
	}
	// Methods.
	for _, m := range []string{"GET", "HEAD", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "FOO-BAR", "get"} {
		add("method "+m, m+" /m HTTP/1.1\r\nHost: example.com\r\n\r\n")
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "REPORT", "QUERY"} {
		add("method+body "+m, withBody(m, "/m", "body-of-"+m, "Content-Type: text/plain\r\n"))
	}
	// Headers.
	headerSets := [][]string{
		{"X-Rep: 1\r\n", "X-Rep: 2\r\n"},
		{"X-Rep: 1\r\n", "X-Rep: 2\r\n", "X-Rep: 3\r\n"},
		{"X-One: a, b\r\n"},
		{"Cookie: a=1\r\n"},
		{"Cookie: a=1; b=2\r\n"},
		{"Cookie: a=1\r\n", "Cookie: b=2\r\n"},
		{"X_Under: 1\r\n"},
		{"X_Forwarded_For: 6.6.6.6\r\n"},
		{"X-Under_Mixed: 1\r\n", "X-Dash: 2\r\n"},
		{"X-Empty:\r\n"},
		{"X-Empty: \r\n"},
		{"X-Latin1: caf\xe9\r\n"},
		{"X-Utf8: caf\xc3\xa9\r\n"},
		{"X-Tab: a\tb\r\n"},
		{"X-Spaces:    padded    \r\n"},
		{"x-lower: 1\r\n"},
		{"X-MiXeD-CaSe: 1\r\n"},
		{"Accept: text/html\r\n", "Accept: application/json\r\n"},
		{"Accept-Encoding: gzip, deflate\r\n", "Accept-Language: en\r\n", "User-Agent: diff/1.0\r\n"},
		{"Authorization: Basic YTpi\r\n"},
		{"Content-Type: application/json\r\n"},
		{"Content-Type: a/b\r\n", "Content-Type: c/d\r\n"},
		{"Connection: keep-alive\r\n"},
		{"Connection: close\r\n"},
		{"TE: trailers\r\n"},
		{"Upgrade-Insecure-Requests: 1\r\n"},
		{"X-Long: " + strings.Repeat("v", 4000) + "\r\n"},
		{"X-Forwarded-For: 203.0.113.9\r\n"},
		{"X-Forwarded-Proto: https\r\n"},
		{"X-Forwarded-Host: proxy.example:8443\r\n"},
		{"Forwarded: for=203.0.113.9;proto=https\r\n"},
		{"X-Forwarded-Ssl: on\r\n"},
		{"Proxy: http://evil.example\r\n"},
		{"Expect: 100-continue\r\n"},
		{"X-Num-1: 1\r\n", "X-2: 2\r\n"},
	}
	for i, hs := range headerSets {
		add(fmt.Sprintf("headers %02d %.30q", i, hs[0]), get("/h", hs...))
	}
	// Hosts.
	hosts := []struct{ name, raw string }{
		{"host plain", "GET /host HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"host port", "GET /host HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"},
		{"host port 80", "GET /host HTTP/1.1\r\nHost: example.com:80\r\n\r\n"},
		{"host upper", "GET /host HTTP/1.1\r\nHost: EXAMPLE.COM\r\n\r\n"},
		{"host ipv4", "GET /host HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"},
		{"host ipv6", "GET /host HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
		{"host ipv6 no port", "GET /host HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n"},
		{"host empty", "GET /host HTTP/1.1\r\nHost:\r\n\r\n"},
		{"host trailing dot", "GET /host HTTP/1.1\r\nHost: example.com.\r\n\r\n"},
		{"host underscore", "GET /host HTTP/1.1\r\nHost: my_host.example\r\n\r\n"},
		{"http/1.0 no host", "GET /host HTTP/1.0\r\n\r\n"},
		{"http/1.0 host", "GET /host HTTP/1.0\r\nHost: example.com\r\n\r\n"},
		{"http/1.0 keep-alive", "GET /host HTTP/1.0\r\nHost: example.com\r\nConnection: keep-alive\r\n\r\n"},
		{"absolute-form", "GET http://other.example/abs?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"absolute-form port", "GET http://other.example:9000/abs HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n"},
	}
	for _, h := range hosts {
		add(h.name, h.raw)
	}
	// Bodies.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	bodies := []struct{ name, raw string }{
		{"body cl 0", withBody("POST", "/b", "")},
		{"body cl 1", withBody("POST", "/b", "x")},
		{"body form", withBody("POST", "/b?x=1", "a=1&b=%20", "Content-Type: application/x-www-form-urlencoded\r\n")},
		{"body binary", withBody("POST", "/b", string(all), "Content-Type: application/octet-stream\r\n")},
		{"body 64KiB", withBody("POST", "/b", strings.Repeat("k", 64<<10))},
		{"body 64KiB+1", withBody("POST", "/b", strings.Repeat("k", 64<<10+1))},
		{"body 200KiB", withBody("PUT", "/b", strings.Repeat("0123456789", 20<<10))},
		{"body cl leading zeros", "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0003\r\n\r\nabc"},
		{"body cl repeated same", "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
		{"body get with body", withBody("GET", "/b", "get-body")},
		{"post no length", "POST /b HTTP/1.1\r\nHost: example.com\r\n\r\n"},
		{"chunked one", chunked("/c", []string{"hello"}, "")},
		{"chunked three", chunked("/c", []string{"a", "bb", "ccc"}, "")},
		{"chunked empty", chunked("/c", nil, "")},
		{"chunked big", chunked("/c", []string{strings.Repeat("z", 70000), strings.Repeat("y", 1000)}, "")},
		{"chunked trailer", chunked("/c", []string{"data"}, "X-Trailer: t\r\n")},
		{"chunked extension", "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\ndata\r\n0\r\n\r\n"},
		{"chunked uppercase hex", chunked("/c", []string{strings.Repeat("h", 0xAB)}, "")},
		{"chunked Chunked", "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"chunked with type", "POST /c HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	}
	for _, b := range bodies {
		add(b.name, b.raw)
	}

	// Seeded random mixes of the above.
	rng := rand.New(rand.NewPCG(2026, 11))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	for i := 0; i < 110; i++ {
		m := methods[rng.IntN(len(methods))]
		target := paths[rng.IntN(len(paths))]
		if rng.IntN(2) == 0 {
			target += queries[rng.IntN(len(queries))]
		}
		var hs []string
		for n := rng.IntN(3); n > 0; n-- {
			hs = append(hs, headerSets[rng.IntN(len(headerSets))]...)
		}
		var raw string
		switch {
		case m == "GET" || m == "DELETE":
			raw = m + " " + target + " HTTP/1.1\r\nHost: example.com\r\n" + strings.Join(hs, "") + "\r\n"
		case rng.IntN(3) == 0:
			var chunks []string
			for n := 1 + rng.IntN(3); n > 0; n-- {
				chunks = append(chunks, strings.Repeat(string(rune('a'+rng.IntN(26))), 1+rng.IntN(300)))
			}
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: example.com\r\n%sTransfer-Encoding: chunked\r\n\r\n", m, target, strings.Join(hs, ""))
			for _, c := range chunks {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(c), c)
			}
			b.WriteString("0\r\n\r\n")
			raw = b.String()
		default:
			raw = withBody(m, target, strings.Repeat("r", rng.IntN(2000)), hs...)
		}
		if strings.Contains(raw, "Content-Length") && strings.Contains(raw, "Transfer-Encoding") {
			continue
		}
		add(fmt.Sprintf("mix %03d", i), raw)
	}
	return out
}

// diffEntry is one difference between the two servers on one request.
type diffEntry struct {
	key        string // environ key, or "status"
	gw, gu     string // gowsgi's and gunicorn's values ("<absent>" when missing)
	rule       string // the docs/compatibility.md row that explains it, "" if none
	request    string
	requestRaw string
}

const diffAbsent = "<absent>"

// diffRule is a row of docs/compatibility.md as code.
type diffRule struct {
	id    string
	about string
	match func(e diffEntry, raw string) bool
}

// diffHasHeader reports whether the raw request has a header line named name.
func diffHasHeader(raw, name string) bool {
	reqHead, _, _ := strings.Cut(raw, "\r\n\r\n")
	for _, line := range strings.Split(reqHead, "\r\n")[1:] {
		if n, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(n), name) {
			return true
		}
	}
	return false
}

// diffHeaderCount counts the header lines named name.
func diffHeaderCount(raw, name string) int {
	reqHead, _, _ := strings.Cut(raw, "\r\n\r\n")
	n := 0
	for _, line := range strings.Split(reqHead, "\r\n")[1:] {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			n++
		}
	}
	return n
}

// diffAllowed mirrors docs/compatibility.md: each rule is one row there,
// with the same ID. Keep the two in step.
var diffAllowed = []diffRule{
	{"C1", "keys only one server sets: REQUEST_URI (gowsgi); gunicorn.socket, wsgi.early_hints (gunicorn)", func(e diffEntry, raw string) bool {
		return e.key == "REQUEST_URI" && e.gu == diffAbsent ||
			(e.key == "gunicorn.socket" || e.key == "wsgi.early_hints") && e.gw == diffAbsent
	}},
	{"C2", "wsgi.multithread: gowsgi runs 4 Python threads, gunicorn's sync worker one", func(e diffEntry, raw string) bool {
		return e.key == "wsgi.multithread" && e.gw == "true" && e.gu == "false"
	}},
	{"C3", "repeated header lines: gowsgi joins with \", \" (Cookie: \"; \"), gunicorn with \",\"", func(e diffEntry, raw string) bool {
		if !strings.HasPrefix(e.key, "HTTP_") || e.gw == diffAbsent || e.gu == diffAbsent {
			return false
		}
		sep := ", "
		if e.key == "HTTP_COOKIE" {
			sep = "; "
		}
		return strings.ReplaceAll(e.gw, sep, ",") == strings.ReplaceAll(e.gu, ", ", ",") ||
			strings.Join(strings.Split(e.gw, sep), ",") == e.gu
	}},
	{"C4", "SERVER_NAME and SERVER_PORT come from the Host header (gowsgi) or from the listening socket (gunicorn)", func(e diffEntry, raw string) bool {
		return e.key == "SERVER_NAME" && e.gu == "127.0.0.1" || e.key == "SERVER_PORT" && e.gu == "<listen-port>"
	}},
	{"C5", "X-Forwarded-For/-Proto/-Host and Forwarded from a trusted peer (127.0.0.1) set REMOTE_ADDR, REMOTE_PORT, wsgi.url_scheme, HTTP_HOST and the server name in gowsgi; gunicorn uses only X-Forwarded-Proto/-Ssl for the scheme", func(e diffEntry, raw string) bool {
		if !(diffHasHeader(raw, "X-Forwarded-For") || diffHasHeader(raw, "X-Forwarded-Proto") || diffHasHeader(raw, "X-Forwarded-Host") || diffHasHeader(raw, "Forwarded")) {
			return false
		}
		switch e.key {
		case "REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT":
			return true
		}
		return false
	}},
	{"C6", "several Content-Type lines: gunicorn answers 400, gowsgi serves the request with the first in CONTENT_TYPE", func(e diffEntry, raw string) bool {
		return diffHeaderCount(raw, "Content-Type") > 1 &&
			(e.key == "status" && e.gw == "200" && e.gu == "400" || e.key == "CONTENT_TYPE")
	}},
	{"C7", "repeated identical Content-Length lines: gunicorn answers 400, gowsgi accepts them as one (RFC 9110 §8.6)", func(e diffEntry, raw string) bool {
		return e.key == "status" && diffHeaderCount(raw, "Content-Length") > 1 && e.gw == "200" && e.gu == "400"
	}},
	{"C8", "CONTENT_LENGTH is the parsed number in gowsgi (\"3\"), the header text in gunicorn (\"0003\")", func(e diffEntry, raw string) bool {
		if e.key != "CONTENT_LENGTH" {
			return false
		}
		a, err1 := strconv.ParseInt(e.gw, 10, 64)
		b, err2 := strconv.ParseInt(e.gu, 10, 64)
		return err1 == nil && err2 == nil && a == b
	}},
	{"C9", "methods that are not upper case (`get`): gunicorn answers 400 (permit_unconventional_http_method is off), gowsgi passes any token to the app", func(e diffEntry, raw string) bool {
		method, _, _ := strings.Cut(raw, " ")
		return e.key == "status" && method != strings.ToUpper(method) && e.gw == "200" && e.gu == "400"
	}},
	{"C10", "a path with malformed percent-encoding (`/%`, `/%2`, `/%zz`): gowsgi answers 400, gunicorn passes the raw text on", func(e diffEntry, raw string) bool {
		_, target, _ := strings.Cut(raw, " ")
		target, _, _ = strings.Cut(target, " ")
		path, _, _ := strings.Cut(target, "?")
		_, err := url.PathUnescape(path)
		return e.key == "status" && err != nil && e.gw == "400" && e.gu == "200"
	}},
	{"C11", "absolute-form targets (`GET http://other.example/p`): gowsgi takes the host from the target, as RFC 9112 §3.2.2 requires; gunicorn keeps the Host header", func(e diffEntry, raw string) bool {
		_, target, _ := strings.Cut(raw, " ")
		if !strings.HasPrefix(target, "http://") {
			return false
		}
		switch e.key {
		case "HTTP_HOST", "SERVER_NAME", "SERVER_PORT":
			return true
		}
		return false
	}},
	{"C12", "an empty Host header: gowsgi sets no HTTP_HOST, gunicorn sets it to \"\"", func(e diffEntry, raw string) bool {
		return e.key == "HTTP_HOST" && e.gw == diffAbsent && e.gu == ""
	}},
	{"C13", "Transfer-Encoding: gowsgi gives the app no HTTP_TRANSFER_ENCODING (net/http decodes the chunks and removes the header); gunicorn passes it", func(e diffEntry, raw string) bool {
		return e.key == "HTTP_TRANSFER_ENCODING" && e.gw == diffAbsent && diffHasHeader(raw, "Transfer-Encoding")
	}},
	// C14 (OPTIONS * answered by net/http) is fixed: no rule, so it stays fixed.
	{"C15", "a request without X-Request-ID: gowsgi gives the app the id it made in HTTP_X_REQUEST_ID (issue 6), gunicorn none", func(e diffEntry, raw string) bool {
		return e.key == "HTTP_X_REQUEST_ID" && e.gu == diffAbsent && !diffHasHeader(raw, "X-Request-ID")
	}},
}

// diffNormalise turns one server's environ into comparable strings,
// removing what must differ between two servers.
func diffNormalise(env map[string]any, port string) map[string]string {
	out := make(map[string]string, len(env))
	for k, v := range env {
		switch k {
		case "SERVER_SOFTWARE", "REMOTE_PORT_IGNORED":
			continue
		case "wsgi.input", "wsgi.errors", "wsgi.file_wrapper":
			out[k] = "<object>" // type names differ by design
			continue
		case "REMOTE_PORT":
			// An ephemeral port: present or not is what can be compared.
			out[k] = "<port>"
			continue
		}
		s := fmt.Sprint(v)
		switch x := v.(type) {
		case bool:
			s = fmt.Sprint(x)
		case []any:
			s = fmt.Sprint(x)
		case string:
			s = x
		}
		if k == "SERVER_PORT" && s == port {
			s = "<listen-port>"
		}
		if k == "HTTP_HOST" && strings.HasSuffix(s, ":"+port) {
			s = strings.TrimSuffix(s, port) + "<listen-port>"
		}
		out[k] = s
	}
	return out
}

func TestDifferential(t *testing.T) {
	gu := startGunicorn(t)
	gw := startApps(t, "environ_dump:application")
	_, gwPort, _ := net.SplitHostPort(gw.addr)
	reqs := differentialRequests()
	if len(reqs) < 200 {
		t.Fatalf("only %d requests generated", len(reqs))
	}

	var diffs []diffEntry
	compared := 0
	for _, rq := range reqs {
		var methods []string
		if rq.isHead {
			methods = []string{"HEAD"}
		}
		opts := hardOptions{max: 1, timeout: 10 * time.Second, methods: methods}
		a := hardExchange(t, gw.addr, []byte(rq.raw), opts)
		b := hardExchange(t, gu.addr, []byte(rq.raw), opts)
		status := func(r hardResult) string {
			if len(r.resps) == 0 {
				return "no response (" + r.String() + ")"
			}
			return fmt.Sprint(r.resps[0].status)
		}
		sa, sb := status(a), status(b)
		if sa != sb {
			diffs = append(diffs, diffEntry{key: "status", gw: sa, gu: sb, request: rq.name, requestRaw: rq.raw})
			continue
		}
		if len(a.resps) == 0 || rq.isHead {
			compared++
			continue
		}
		ea, eb := a.resps[0].env, b.resps[0].env
		if (ea == nil) != (eb == nil) {
			diffs = append(diffs, diffEntry{key: "body", gw: fmt.Sprintf("%.200q", a.resps[0].body), gu: fmt.Sprintf("%.200q", b.resps[0].body), request: rq.name, requestRaw: rq.raw})
			continue
		}
		compared++
		if ea == nil {
			continue
		}
		na, nb := diffNormalise(ea, gwPort), diffNormalise(eb, gu.port)
		keys := map[string]bool{}
		for k := range na {
			keys[k] = true
		}
		for k := range nb {
			keys[k] = true
		}
		for k := range keys {
			va, oka := na[k]
			vb, okb := nb[k]
			if !oka {
				va = diffAbsent
			}
			if !okb {
				vb = diffAbsent
			}
			if va != vb {
				diffs = append(diffs, diffEntry{key: k, gw: va, gu: vb, request: rq.name, requestRaw: rq.raw})
			}
		}
	}

	// Classify, count per rule, fail on the rest.
	perRule := map[string]int{}
	var unexplained []diffEntry
	for i := range diffs {
		e := &diffs[i]
		for _, r := range diffAllowed {
			if r.match(*e, e.requestRaw) {
				e.rule = r.id
				break
			}
		}
		if e.rule == "" {
			unexplained = append(unexplained, *e)
			continue
		}
		perRule[e.rule]++
	}
	t.Logf("%d requests, %d compared in full, %d differences", len(reqs), compared, len(diffs))
	ids := make([]string, 0, len(perRule))
	for id := range perRule {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, r := range diffAllowed {
			if r.id == id {
				t.Logf("  %s × %d: %s", id, perRule[id], r.about)
			}
		}
	}
	sort.Slice(unexplained, func(i, j int) bool {
		if unexplained[i].key != unexplained[j].key {
			return unexplained[i].key < unexplained[j].key
		}
		return unexplained[i].request < unexplained[j].request
	})
	for _, e := range unexplained {
		t.Errorf("difference not in docs/compatibility.md: %s on %q: gowsgi %.300q, gunicorn %.300q\nrequest: %s", e.key, e.request, e.gw, e.gu, diffDescribeRaw(e.requestRaw))
	}
	if len(unexplained) > 0 {
		t.Logf("gunicorn log tail:\n%s", hardTail(gu.log.String(), 3000))
	}
	// Both still serve.
	resp, body := gw.get(t, "/after")
	expectStatus(t, resp, body, 200)
	c, err := net.Dial("tcp", gu.addr)
	if err == nil {
		io.WriteString(c, "GET /after HTTP/1.0\r\n\r\n")
		c.Close()
	}
}

// diffDescribeRaw quotes a request's head in full and summarises its body.
func diffDescribeRaw(raw string) string {
	reqHead, body, _ := strings.Cut(raw, "\r\n\r\n")
	return fmt.Sprintf("%q + %d body bytes %.60q", reqHead+"\r\n\r\n", len(body), body)
}
