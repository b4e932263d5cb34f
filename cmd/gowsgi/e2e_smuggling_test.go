package main

// Request smuggling: CL.TE, TE.CL and TE.TE variants, Content-Length and
// chunk-size tricks, odd line endings, sent raw on one keep-alive
// connection followed by a normal "GET /second". Whatever the server makes
// of the first request, the bytes of its body must never be answered as a
// request of their own: gowsgi answers a 4xx, closes, or answers the first
// request and then exactly /second.
//
// The raw-connection helpers here (hardExchange, hardResp) are shared by
// e2e_corpora_test.go, e2e_faults_test.go and e2e_differential_test.go.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hardResp is one response read off a raw connection.
type hardResp struct {
	status int
	header http.Header
	body   []byte
	env    map[string]any // environ_dump's JSON, nil for other bodies
}

// path is the PATH_INFO environ_dump saw, "" for a response that is not
// environ_dump's.
func (r hardResp) path() string {
	p, _ := r.env["PATH_INFO"].(string)
	return p
}

func (r hardResp) String() string {
	if r.env != nil {
		return fmt.Sprintf("%d %s %s (body %q)", r.status, r.env["REQUEST_METHOD"], r.env["RAW_URI"], r.env["body"])
	}
	return fmt.Sprintf("%d %.80q", r.status, r.body)
}

// hardResult is what came back on one raw connection.
type hardResult struct {
	resps    []hardResp
	closed   bool  // the server closed (EOF or reset) after the last response
	timedOut bool  // nothing more came within the read timeout
	err      error // a malformed response, or another read error
	writeErr error // the request could not be sent whole (the server closed early)
}

func (r hardResult) String() string {
	var b strings.Builder
	for i, resp := range r.resps {
		fmt.Fprintf(&b, "[%d] %s; ", i, resp)
	}
	switch {
	case r.closed:
		b.WriteString("then closed")
	case r.timedOut:
		b.WriteString("then nothing (read timeout, connection open)")
	case r.err != nil:
		fmt.Fprintf(&b, "then error: %v", r.err)
	}
	if r.writeErr != nil {
		fmt.Fprintf(&b, " (writing the request failed: %v)", r.writeErr)
	}
	return b.String()
}

// hardOptions say how hardExchange talks.
type hardOptions struct {
	timeout   time.Duration       // per-response read timeout (default 2s)
	halfClose bool                // shut the write side after sending
	stop      func(hardResp) bool // stop reading after a response it accepts
	methods   []string            // request methods in order, where a HEAD may be among them
	max       int                 // read at most this many responses (default 8)
}

// hardExchange sends raw on a fresh connection to addr and reads responses
// until the server closes, a read times out, or opts.stop says enough.
func hardExchange(t *testing.T, addr string, raw []byte, opts hardOptions) hardResult {
	t.Helper()
	if opts.timeout == 0 {
		opts.timeout = 2 * time.Second
	}
	if opts.max == 0 {
		opts.max = 8
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	tc := c.(*net.TCPConn)
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var res hardResult
	if _, err = c.Write(raw); err != nil {
		// The server may close before reading everything (a 400 on the
		// first line); what it answered is still worth reading.
		res.writeErr = err
	}
	if opts.halfClose {
		tc.CloseWrite()
	}
	br := bufio.NewReader(c)
	for len(res.resps) < opts.max {
		c.SetReadDeadline(time.Now().Add(opts.timeout))
		var req *http.Request
		if i := len(res.resps); i < len(opts.methods) {
			req = &http.Request{Method: opts.methods[i]}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			res.classify(err)
			return res
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue and other interim responses
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := hardResp{status: resp.StatusCode, header: resp.Header, body: body}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			var env map[string]any
			if json.Unmarshal(body, &env) == nil {
				r.env = env
			}
		}
		res.resps = append(res.resps, r)
		if err != nil {
			res.classify(err)
			return res
		}
		if opts.stop != nil && opts.stop(r) {
			return res
		}
		if resp.Close {
			// Connection: close (or HTTP/1.0 without keep-alive): the
			// server must close now; see that it does.
			c.SetReadDeadline(time.Now().Add(opts.timeout))
			if _, err := br.ReadByte(); err != nil {
				res.classify(err)
			} else {
				res.err = errors.New("bytes after a Connection: close response")
			}
			return res
		}
	}
	return res
}

func (res *hardResult) classify(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.EPIPE):
		res.closed = true
	case errors.As(err, &ne) && ne.Timeout():
		res.timedOut = true
	default:
		res.err = err
	}
}

// smugRequest is the request hidden in the first request's body. Its path
// appears nowhere else: an answer for /smuggled is a smuggled request.
const smugRequest = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

// smugSecond is the normal request sent after each case.
const smugSecond = "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"

// smugglingCase is one first request. Known gowsgi bugs are named in bug:
// the case still runs every check, and a failing check whose symptom is
// the bug skips with "BUG: ..." instead of failing, so that the suite
// stays green until the bug is fixed (then delete the bug field).
type smugglingCase struct {
	name string
	raw  string
	// mustClose: the framing is ambiguous (Content-Length and
	// Transfer-Encoding together, or Transfer-Encoding on HTTP/1.0), so
	// RFC 9112 §6.1 lets the server answer it but then it MUST close the
	// connection: an answer for /second on the same connection is wrong.
	mustClose bool
	bug       string
}

// smugChunk frames data as one chunk (hex size, CRLF, data, CRLF).
func smugChunk(data string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(data), data) }

// Two bugs this file found are fixed in host/handler.go: net/http frames a
// request with both Content-Length and Transfer-Encoding by its chunks and
// ignores Transfer-Encoding on HTTP/1.0, and deletes the evidence before
// the handler runs; RFC 9112 §6.1 then requires closing the connection.
// gowsgi closes it after every chunked and every HTTP/1.0 request, so the
// cl-te/*, te-cl/* and http10/* cases below must close cleanly.

func smugglingCases() []smugglingCase {
	s := smugRequest
	post := "POST / HTTP/1.1\r\nHost: x\r\n"
	// clte: a Content-Length that covers the whole body (a front end using
	// it forwards everything as one request) and a Transfer-Encoding (te,
	// raw header lines) under which the body ends after "0\r\n\r\n", with
	// s next.
	clte := func(te string) string {
		body := "0\r\n\r\n" + s
		return fmt.Sprintf("%sContent-Length: %d\r\n%s\r\n%s", post, len(body), te, body)
	}
	// tecl: the body is chunked with s inside the chunk; a Content-Length
	// covering only the chunk-size line would leave s as the next request.
	tecl := func(te string) string {
		body := smugChunk(s) + "0\r\n\r\n"
		size := strings.Index(body, "\r\n") + 2
		return fmt.Sprintf("%sContent-Length: %d\r\n%s\r\n%s", post, size, te, body)
	}
	// te: a Transfer-Encoding header (te) and a raw body.
	te := func(te, body string) string { return post + te + "\r\n" + body }
	ch := "Transfer-Encoding: chunked\r\n"
	// cl: Content-Length header lines (format with one %d, given the true
	// length) and the body "abcde"+s: honoured, the header swallows s;
	// misread as 5 or 0, s becomes a request.
	cl := func(format string) string {
		n := len("abcde" + s)
		return post + strings.ReplaceAll(format, "%d", fmt.Sprint(n)) + "\r\n" + "abcde" + s
	}
	// in: s as the data of one chunk, after "hello" framed by pre.
	in := func(pre, end string) string { return pre + smugChunk(s) + end }

	return []smugglingCase{
		// Baselines: nothing odd, s is inside the body.
		{name: "baseline/content-length", raw: fmt.Sprintf("%sContent-Length: %d\r\n\r\n%s", post, len(s), s)},
		{name: "baseline/chunked", raw: te(ch, in("", "0\r\n\r\n"))},

		// CL.TE: the front end trusts Content-Length, the back end
		// Transfer-Encoding.
		{name: "cl-te/plain", raw: clte(ch), mustClose: true},
		{name: "cl-te/te-before-cl", raw: post + ch + fmt.Sprintf("Content-Length: %d\r\n\r\n", len("0\r\n\r\n"+s)) + "0\r\n\r\n" + s, mustClose: true},
		{name: "cl-te/te-Chunked", raw: clte("Transfer-Encoding: Chunked\r\n"), mustClose: true},
		{name: "cl-te/te-CHUNKED", raw: clte("Transfer-Encoding: CHUNKED\r\n"), mustClose: true},
		{name: "cl-te/te-trailing-space", raw: clte("Transfer-Encoding: chunked \r\n"), mustClose: true},
		{name: "cl-te/te-leading-tab", raw: clte("Transfer-Encoding:\tchunked\r\n"), mustClose: true},
		{name: "cl-te/te-no-space", raw: clte("Transfer-Encoding:chunked\r\n"), mustClose: true},
		{name: "cl-te/te-space-before-colon", raw: clte("Transfer-Encoding : chunked\r\n"), mustClose: true},
		{name: "cl-te/te-tab-before-colon", raw: clte("Transfer-Encoding\t: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-xchunked", raw: clte("Transfer-Encoding: xchunked\r\n"), mustClose: true},
		{name: "cl-te/te-chunked-identity", raw: clte("Transfer-Encoding: chunked, identity\r\n"), mustClose: true},
		{name: "cl-te/te-identity-chunked", raw: clte("Transfer-Encoding: identity, chunked\r\n"), mustClose: true},
		{name: "cl-te/te-gzip-chunked", raw: clte("Transfer-Encoding: gzip, chunked\r\n"), mustClose: true},
		{name: "cl-te/te-repeated-chunked-identity", raw: clte("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), mustClose: true},
		{name: "cl-te/te-repeated-chunked-chunked", raw: clte("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-empty-then-chunked", raw: clte("Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-comma-chunked", raw: clte("Transfer-Encoding: ,chunked\r\n"), mustClose: true},
		{name: "cl-te/te-quoted", raw: clte("Transfer-Encoding: \"chunked\"\r\n"), mustClose: true},
		{name: "cl-te/te-vertical-tab-before", raw: clte("Transfer-Encoding:\x0bchunked\r\n"), mustClose: true},
		{name: "cl-te/te-vertical-tab-after", raw: clte("Transfer-Encoding: chunked\x0b\r\n"), mustClose: true},
		{name: "cl-te/te-form-feed", raw: clte("Transfer-Encoding:\x0cchunked\r\n"), mustClose: true},
		{name: "cl-te/te-nul-after", raw: clte("Transfer-Encoding: chunked\x00\r\n"), mustClose: true},
		{name: "cl-te/te-nul-in-name", raw: clte("Transfer-Encod\x00ing: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-kelvin-sign", raw: clte("Transfer-Encoding: chun\u212aed\r\n"), mustClose: true},
		{name: "cl-te/te-obs-fold-value", raw: clte("Transfer-Encoding:\r\n chunked\r\n"), mustClose: true},
		{name: "cl-te/te-obs-fold-after-other", raw: clte("X-Foo: bar\r\n Transfer-Encoding: chunked\r\n")}, // folded into X-Foo: no TE
		{name: "cl-te/te-bare-lf-line", raw: clte("Transfer-Encoding: chunked\n"), mustClose: true},
		{name: "cl-te/te-after-bare-lf", raw: clte("X-Foo: bar\nTransfer-Encoding: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-after-bare-cr", raw: clte("X-Foo: bar\rTransfer-Encoding: chunked\r\n"), mustClose: true},
		{name: "cl-te/te-name-underscore", raw: clte("Transfer_Encoding: chunked\r\n")}, // another header: CL frames it
		{name: "cl-te/te-name-leading-space", raw: clte(" Transfer-Encoding: chunked\r\n"), mustClose: true},

		// TE.CL: the front end trusts Transfer-Encoding, the back end
		// Content-Length.
		{name: "te-cl/plain", raw: tecl(ch), mustClose: true},
		{name: "te-cl/cl-after-te", raw: post + ch + "Content-Length: 4\r\n\r\n" + smugChunk(s) + "0\r\n\r\n", mustClose: true},
		{name: "te-cl/te-trailing-space", raw: tecl("Transfer-Encoding: chunked \r\n"), mustClose: true},
		{name: "te-cl/te-xchunked", raw: tecl("Transfer-Encoding: xchunked\r\n"), mustClose: true},
		{name: "te-cl/te-chunked-identity", raw: tecl("Transfer-Encoding: chunked, identity\r\n"), mustClose: true},
		{name: "te-cl/te-vertical-tab", raw: tecl("Transfer-Encoding:\x0bchunked\r\n"), mustClose: true},
		{name: "te-cl/te-obs-fold", raw: tecl("Transfer-Encoding:\r\n\tchunked\r\n"), mustClose: true},
		{name: "te-cl/cl-zero", raw: post + "Content-Length: 0\r\n" + ch + "\r\n" + smugChunk(s) + "0\r\n\r\n", mustClose: true},

		// TE.TE: two Transfer-Encoding readings, one of them obfuscated.
		{name: "te-te/chunked-then-x", raw: te(ch+"Transfer-Encoding: x\r\n", in("", "0\r\n\r\n"))},
		{name: "te-te/x-then-chunked", raw: te("Transfer-Encoding: x\r\n"+ch, in("", "0\r\n\r\n"))},
		{name: "te-te/chunked-chunked-list", raw: te("Transfer-Encoding: chunked, chunked\r\n", in("", "0\r\n\r\n"))},
		{name: "te-te/chunked-then-cow-lowercase-name", raw: te(ch+"Transfer-encoding: cow\r\n", in("", "0\r\n\r\n"))},
		{name: "te-te/identity", raw: te("Transfer-Encoding: identity\r\n", in("", "0\r\n\r\n"))},

		// Content-Length alone.
		{name: "cl/duplicate-same", raw: cl("Content-Length: %d\r\nContent-Length: %d\r\n")},
		{name: "cl/duplicate-differs", raw: cl("Content-Length: 5\r\nContent-Length: %d\r\n")},
		{name: "cl/duplicate-differs-reversed", raw: cl("Content-Length: %d\r\nContent-Length: 5\r\n")},
		{name: "cl/comma-same", raw: cl("Content-Length: %d, %d\r\n")},
		{name: "cl/comma-differs", raw: cl("Content-Length: 5, %d\r\n")},
		{name: "cl/plus-sign", raw: cl("Content-Length: +%d\r\n")},
		{name: "cl/minus-sign", raw: cl("Content-Length: -%d\r\n")},
		{name: "cl/leading-zeros", raw: cl("Content-Length: 000%d\r\n")},
		{name: "cl/hex", raw: cl("Content-Length: 0x5\r\n")},
		{name: "cl/space-inside", raw: cl("Content-Length: 5 %d\r\n")},
		{name: "cl/trailing-tab", raw: cl("Content-Length: %d\t\r\n")},
		{name: "cl/decimal-point", raw: cl("Content-Length: %d.0\r\n")},
		{name: "cl/overflow", raw: cl("Content-Length: 99999999999999999999999999%d\r\n")},
		{name: "cl/uint64-wrap", raw: cl("Content-Length: 18446744073709551621\r\n")}, // 2^64 + 5
		{name: "cl/empty", raw: cl("Content-Length:\r\n")},
		{name: "cl/space-before-colon", raw: cl("Content-Length : %d\r\n")},
		{name: "cl/obs-fold", raw: cl("Content-Length:\r\n %d\r\n")},
		{name: "cl/vertical-tab", raw: cl("Content-Length:\x0b%d\r\n")},
		{name: "cl/nul", raw: cl("Content-Length: %d\x00\r\n")},
		{name: "cl/underscore-and-dash", raw: cl("Content_Length: 5\r\nContent-Length: %d\r\n")},
		{name: "cl/bare-lf-headers", raw: fmt.Sprintf("POST / HTTP/1.1\nHost: x\nContent-Length: %d\n\nabcde%s", 5+len(s), s)},

		// Chunk sizes, extensions and trailers. Valid framings keep s inside
		// a chunk; invalid ones must be refused.
		{name: "chunk/extension", raw: te(ch, in("5;foo=bar\r\nhello\r\n", "0;x\r\n\r\n"))},
		{name: "chunk/extension-quoted", raw: te(ch, in("5;a=\"b;c\"\r\nhello\r\n", "0\r\n\r\n"))},
		{name: "chunk/extension-quoted-crlf", raw: te(ch, "5;a=\"x\r\n0\r\n\r\n"+s+"\"\r\nhello\r\n0\r\n\r\n")},
		{name: "chunk/extension-bare-lf", raw: te(ch, "5;a\nb\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-overflow", raw: te(ch, "ffffffffffffffffff\r\n"+s)},
		{name: "chunk/size-hex-wrap", raw: te(ch, "10000000000000005\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-negative", raw: te(ch, "-5\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-0x-prefix", raw: te(ch, "0x5\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-leading-space", raw: te(ch, " 5\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-trailing-space", raw: te(ch, in("5 \r\nhello\r\n", "0\r\n\r\n"))},
		{name: "chunk/size-no-semicolon-ext", raw: te(ch, "5 x\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/size-bare-lf", raw: te(ch, "5\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/data-bare-lf", raw: te(ch, "5\r\nhello\n0\r\n\r\n"+s)},
		{name: "chunk/data-longer-than-size", raw: te(ch, "3\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/data-shorter-than-size", raw: te(ch, "8\r\nhello\r\n0\r\n\r\n"+s)},
		{name: "chunk/last-chunk-000", raw: te(ch, in("5\r\nhello\r\n", "000\r\n\r\n"))},
		{name: "chunk/last-chunk-bare-lf", raw: te(ch, "5\r\nhello\r\n0\n\n"+s)},
		{name: "chunk/trailer", raw: te(ch, in("5\r\nhello\r\n", "0\r\nX-Trailer: 1\r\n\r\n"))},
		{name: "chunk/trailer-content-length", raw: te(ch, in("5\r\nhello\r\n", "0\r\nContent-Length: 99\r\n\r\n"))},
		{name: "chunk/trailer-transfer-encoding", raw: te(ch, in("5\r\nhello\r\n", "0\r\nTransfer-Encoding: chunked\r\n\r\n"))},
		{name: "chunk/trailer-is-request", raw: te(ch, "5\r\nhello\r\n0\r\n"+s)},
		{name: "chunk/trailer-without-blank-line", raw: te(ch, "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n"+s)},
		{name: "chunk/trailer-obs-fold", raw: te(ch, in("5\r\nhello\r\n", "0\r\nX-Trailer: 1\r\n folded\r\n\r\n"))},
		{name: "chunk/in-GET", raw: "GET / HTTP/1.1\r\nHost: x\r\n" + ch + "\r\n" + smugChunk(s) + "0\r\n\r\n"},

		// HTTP/1.0 with Transfer-Encoding: RFC 9112 §6.1 says the framing
		// is faulty and the connection must close after the message.
		{name: "http10/te-keep-alive-body-is-request", raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\n" + ch + "\r\n" + s, mustClose: true},
		{name: "http10/te-keep-alive-chunked-body", raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\n" + ch + "\r\n" + smugChunk(s) + "0\r\n\r\n", mustClose: true},
		{name: "http10/te-cl-keep-alive", raw: "POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 4\r\n" + ch + "\r\n" + smugChunk(s) + "0\r\n\r\n", mustClose: true},
		{name: "http10/te-no-keep-alive", raw: "POST / HTTP/1.0\r\n" + ch + "\r\n" + s, mustClose: true},

		// Header-block oddities around a Content-Length body.
		{name: "line/nul-in-header-value", raw: cl("Content-Length: %d\r\nX-A: a\x00b\r\n")},
		{name: "line/cr-in-header-value", raw: cl("Content-Length: %d\r\nX-A: a\rb\r\n")},
		{name: "line/obs-fold-other-header", raw: cl("Content-Length: %d\r\nX-A: a\r\n b\r\n")},
		{name: "line/space-line-before-headers", raw: "POST / HTTP/1.1\r\n Content-Length: 5\r\nHost: x\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\nabcde", 5+len(s)) + s},
		{name: "line/expect-continue", raw: cl("Content-Length: %d\r\nExpect: 100-continue\r\n")},
	}
}

func TestSmuggling(t *testing.T) {
	s := startApps(t, "environ_dump:application")
	cases := smugglingCases()
	t.Logf("%d smuggling cases", len(cases))
	t.Run("cases", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				raw := []byte(c.raw + smugSecond)
				res := hardExchange(t, s.addr, raw, hardOptions{
					// Stop at /second: nothing can follow it, since it is
					// the last thing sent.
					stop:    func(r hardResp) bool { return r.path() == "/second" },
					timeout: 1500 * time.Millisecond,
				})
				t.Logf("%q\n-> %s", c.raw, res)
				problems := smugglingProblems(res, c.mustClose)
				switch {
				case len(problems) > 0 && c.bug != "":
					t.Skipf("BUG: %s.\nRequest %q + %q\ngot: %s\nproblems: %s", c.bug, c.raw, smugSecond, res, strings.Join(problems, "; "))
				case len(problems) > 0:
					t.Errorf("request %q + %q: %s\ngot: %s\nserver log:\n%s", c.raw, smugSecond, strings.Join(problems, "; "), res, hardTail(s.stderr.String(), 2000))
				case c.bug != "":
					t.Logf("case is marked BUG but passes now: remove its bug field (%s)", c.bug)
				}
			})
		}
	})
	// After every case: the server still serves.
	resp, body := s.get(t, "/after")
	expectStatus(t, resp, body, 200)
}

// smugglingProblems lists what is wrong with the responses to one case.
func smugglingProblems(res hardResult, mustClose bool) []string {
	var p []string
	if res.err != nil {
		p = append(p, fmt.Sprintf("read error %v", res.err))
	}
	for i, r := range res.resps {
		if strings.Contains(r.path(), "smuggled") {
			p = append(p, fmt.Sprintf("response %d answers the smuggled request", i))
		}
	}
	if len(res.resps) == 0 {
		return p // closed or still reading: nothing answered, nothing smuggled
	}
	first := res.resps[0]
	switch {
	case first.status >= 200 && first.status < 300:
		if first.path() != "/" {
			p = append(p, fmt.Sprintf("first response is for %q, not /", first.path()))
		}
		if len(res.resps) > 1 && res.resps[1].path() != "/second" {
			p = append(p, fmt.Sprintf("after a %d for the first request the next response is %s, not /second: the body was parsed as a request", first.status, res.resps[1]))
		} else if len(res.resps) > 1 && mustClose {
			p = append(p, "ambiguous framing was answered and the connection kept open (RFC 9112 §6.1: MUST close)")
		}
		if len(res.resps) > 2 {
			p = append(p, fmt.Sprintf("%d responses to two requests", len(res.resps)))
		}
	case first.status >= 400 && first.status < 500, first.status == http.StatusNotImplemented:
		// 4xx, or 501 for a transfer coding the server does not know
		// (RFC 9112 §6.1): the connection must close after it.
		if len(res.resps) > 1 {
			p = append(p, fmt.Sprintf("after a %d the connection stayed open and answered %s", first.status, res.resps[1]))
		}
	default:
		p = append(p, fmt.Sprintf("a malformed or ambiguous request got %d (want a 2xx, a 4xx, a 501 or a close)", first.status))
		if len(res.resps) > 1 && res.resps[1].path() != "/second" {
			p = append(p, fmt.Sprintf("after a %d the next response is %s", first.status, res.resps[1]))
		}
	}
	return p
}

// hardTail returns the last n bytes of s.
func hardTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// hardFDs counts the open file descriptors of process pid (Linux).
func hardFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count fds of %d: %v", pid, err)
	}
	return len(ents)
}
