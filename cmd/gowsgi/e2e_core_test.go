package main

// The WSGI contract end to end, with the plain PEP 3333 apps in
// testdata/apps: errors and close(), streaming, request bodies, keep-alive,
// threads and the GIL, file_wrapper, shutdown.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func startApps(t *testing.T, app string, args ...string) *testServer {
	t.Helper()
	return startServer(t, serverOptions{app: app, dir: "testdata/apps", args: args})
}

// closedPaths returns the paths whose iterable close() the errors app saw.
func closedPaths(t *testing.T, s *testServer) []string {
	t.Helper()
	_, body := s.get(t, "/closed")
	var paths []string
	if err := json.Unmarshal(body, &paths); err != nil {
		t.Fatalf("/closed: %v: %s", err, body)
	}
	return paths
}

// waitClosed polls until the errors app has seen close() for path.
func waitClosed(t *testing.T, s *testServer, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Contains(closedPaths(t, s), path) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("close() never called for %s; closed: %v", path, closedPaths(t, s))
}

func TestHelloAndHead(t *testing.T) {
	s := startApps(t, "hello:application")
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	if string(body) != "Hello, world" || resp.Header.Get("Content-Length") != "12" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("GET /: %q %v", body, resp.Header)
	}
	resp, body = s.do(t, http.MethodHead, "/", nil)
	expectStatus(t, resp, body, 200)
	if len(body) != 0 || resp.Header.Get("Content-Length") != "12" {
		t.Fatalf("HEAD /: body %q, headers %v", body, resp.Header)
	}
}

// An app that sets no Content-Type gets none: net/http would sniff one
// from the body, and turn user content the app marked nosniff into
// text/html. A Content-Length with spaces around it is read as gunicorn
// reads it. Both HTTP/1.1 paths, whole and streamed bodies, GET and HEAD.
func TestNoContentTypeIsSniffed(t *testing.T) {
	t.Parallel()
	const query = "?body=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
	for _, mode := range []struct {
		name string
		args []string
	}{{"fast path", nil}, {"net/http", []string{"--net-http-only"}}} {
		s := startApps(t, "errors:application", mode.args...)
		for _, variant := range []string{"", "&stream=1", "&length=1"} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := s.do(t, method, "/no-content-type"+query+variant, nil)
				expectStatus(t, resp, body, 200)
				if v, ok := resp.Header["Content-Type"]; ok {
					t.Errorf("%s, %s %s: Content-Type %q sent; the app set none", mode.name, method, variant, v)
				}
				if method == http.MethodGet && string(body) != "<script>alert(1)</script>" {
					t.Errorf("%s, GET %s: body %q", mode.name, variant, body)
				}
				if variant == "&length=1" && resp.ContentLength != 25 {
					t.Errorf("%s, %s: Content-Length %d, want 25 (the app's \" 25 \")", mode.name, method, resp.ContentLength)
				}
			}
		}
	}
}

// The app's reason phrase goes out as given (PEP 3333's status string),
// as gunicorn sends it; Go's own text would say "299 status code 299".
func TestReasonPhraseAsTheAppGaveIt(t *testing.T) {
	t.Parallel()
	s := startApps(t, "errors:application")
	for _, status := range []string{"200 OK", "299 Whatever", "302 FOUND", "404 Custom Not Here", "200 OK extra", "600 Weird", "200 "} {
		conn := rawConn(t, s)
		fmt.Fprintf(conn, "GET /custom-status?status=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", strings.ReplaceAll(status, " ", "%20"))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if want := "HTTP/1.1 " + status + "\r\n"; err != nil || line != want {
			t.Errorf("status %q: line %q (%v), want %q", status, line, err, want)
		}
	}
}

// HUP to a single process (no master) serves on and says that it reloads
// no code, where gunicorn would: a deploy's HUP must not look done.
func TestHUPWithoutMasterSaysNoCodeReload(t *testing.T) {
	t.Parallel()
	s := startApps(t, "hello:application")
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "a single process cannot reload the app's code")
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
}

func TestBadAppsGet500AndServerKeepsServing(t *testing.T) {
	s := startApps(t, "errors:application")
	cases := []struct {
		path, logWant string
	}{
		{"/raise-before-start", "RuntimeError: raised before start_response"},
		{"/non-iterable", "TypeError: 'int' object is not iterable"},
		{"/yield-str", "yielded str, not bytes"},
		{"/bad-status", `status "abc"`},
		{"/header-crlf", "contains CR, LF"},
		{"/header-non-latin1", "outside latin-1"},
		{"/start-twice", "start_response called a second time without exc_info"},
		{"/header-changed-after-start", "header 1 must be a (str, str) tuple"},
	}
	// One keep-alive connection for all: a failure must leave it usable.
	for _, c := range cases {
		t.Run(strings.TrimPrefix(c.path, "/"), func(t *testing.T) {
			resp, body := s.get(t, c.path)
			expectStatus(t, resp, body, 500)
			if resp.Header.Get("X-Injected") != "" || resp.Header.Get("X-Bad") != "" {
				t.Fatalf("an invalid header reached the client: %v", resp.Header)
			}
			if string(body) != "Internal Server Error" {
				t.Fatalf("body %q", body)
			}
			s.waitLog(t, c.logWant)
			resp, body = s.get(t, "/ok")
			expectStatus(t, resp, body, 200)
		})
	}
	// The iterables that existed were closed even though the app failed.
	closed := closedPaths(t, s)
	if !slices.Contains(closed, "/yield-str") {
		t.Errorf("close() not called after a str chunk: %v", closed)
	}
}

func TestCloseCalledOnEveryPath(t *testing.T) {
	s := startApps(t, "errors:application")
	s.get(t, "/closed?reset=1")

	t.Run("normal end", func(t *testing.T) {
		resp, body := s.get(t, "/stream-n?n=3")
		expectStatus(t, resp, body, 200)
		if string(body) != "chunk 0\nchunk 1\nchunk 2\n" {
			t.Fatalf("body %q", body)
		}
		waitClosed(t, s, "/stream-n")
	})
	t.Run("exception mid-iteration", func(t *testing.T) {
		// Headers went out, so the connection is cut: the client sees a
		// truncated body, never a second status line.
		resp, err := http.Get(s.url + "/raise-mid-iteration")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "part1" || err == nil {
			t.Fatalf("status %d body %q err %v: want 200, part1 and a truncated body", resp.StatusCode, body, err)
		}
		s.waitLog(t, "ValueError: raised during iteration")
		waitClosed(t, s, "/raise-mid-iteration")
	})
	t.Run("client disconnects mid-stream", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /stream-forever HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 128<<10)
		if _, err := io.ReadAtLeast(conn, buf, 100<<10); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		waitClosed(t, s, "/stream-forever")
	})
	for _, c := range []struct{ name, path, logWant string }{
		{"exc_info after the body re-raises", "/exc-info-after-body", "RuntimeError: error after the headers were sent"},
		// sys.exc_info() outside an except block is (None, None, None):
		// a TypeError in the app, not a crash of the worker.
		{"exc_info outside an except block", "/exc-info-not-handled", "exc_info must be sys.exc_info() of a handled exception"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Get(s.url + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != "body" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			s.waitLog(t, c.logWant)
			waitClosed(t, s, c.path)
			resp, body = s.get(t, "/ok")
			expectStatus(t, resp, body, 200)
		})
	}
	// Every iterable is closed exactly once.
	closed := closedPaths(t, s)
	for _, p := range []string{"/stream-n", "/raise-mid-iteration", "/stream-forever", "/exc-info-not-handled"} {
		if n := countOf(closed, p); n != 1 {
			t.Errorf("%s closed %d times: %v", p, n, closed)
		}
	}
}

// A streamed wsgi.input (a chunked body) that an app keeps past its
// request must not read a later request's body.
func TestStreamedInputKeptPastItsRequest(t *testing.T) {
	s := startApps(t, "errors:application")
	chunked := func(text string) io.Reader { return io.MultiReader(strings.NewReader(text)) }
	resp, body := s.do(t, http.MethodPost, "/input-keep", chunked("first body"))
	expectStatus(t, resp, body, 200)
	resp, body = s.do(t, http.MethodPost, "/input-stale", chunked("SECRET of the second request"))
	expectStatus(t, resp, body, 200)
	if strings.Contains(string(body), "SECRET") || !strings.Contains(string(body), "wsgi.input read outside its request") {
		t.Fatalf("a kept wsgi.input read %q", body)
	}
}

// A write() that an app keeps past its request raises when called in a
// later one, instead of writing into that response (the same OS thread
// serves both requests sometimes, and one write() per thread used to
// serve all of them).
func TestWriteKeptPastItsRequest(t *testing.T) {
	s := startApps(t, "errors:application")
	for i := 0; i < 5; i++ {
		resp, body := s.get(t, "/write-keep")
		expectStatus(t, resp, body, 200)
		resp, body = s.get(t, "/write-stale")
		expectStatus(t, resp, body, 200)
		if string(body) != "write() called after its request ended" {
			t.Fatalf("a kept write(), called in a later request: %q", body)
		}
	}
}

// write() kept and called from the app's own thread raises there instead
// of writing into a response another thread owns.
func TestWriteFromAnotherThreadRaises(t *testing.T) {
	s := startApps(t, "errors:application")
	resp, body := s.get(t, "/write-from-thread")
	expectStatus(t, resp, body, 200)
	if string(body) != "write() called from a thread other than its request's" {
		t.Fatalf("body %q", body)
	}
}

func countOf(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

func TestWriteExcInfoAndFileWrapper(t *testing.T) {
	s := startApps(t, "errors:application")
	t.Run("write()", func(t *testing.T) {
		resp, body := s.get(t, "/write")
		expectStatus(t, resp, body, 200)
		if string(body) != "written-returned" {
			t.Fatalf("body %q", body)
		}
	})
	t.Run("exc_info replaces the headers before the body", func(t *testing.T) {
		resp, body := s.get(t, "/exc-info")
		expectStatus(t, resp, body, 500)
		if string(body) != "replaced" || resp.Header.Get("X-Replaced") != "1" || resp.Header.Get("X-First") != "" {
			t.Fatalf("body %q headers %v", body, resp.Header)
		}
	})
	t.Run("file_wrapper with a real fd", func(t *testing.T) {
		const size = 3<<20 + 17
		resp, body := s.get(t, fmt.Sprintf("/file-wrapper?size=%d", size))
		expectStatus(t, resp, body, 200)
		if len(body) != size || resp.ContentLength != size {
			t.Fatalf("got %d bytes, Content-Length %d", len(body), resp.ContentLength)
		}
		for i, b := range body {
			if b != byte(i%256) {
				t.Fatalf("byte %d is %d, want %d", i, b, byte(i%256))
			}
		}
		waitClosed(t, s, "/file-wrapper")
	})
	t.Run("file_wrapper without fd falls back to iteration", func(t *testing.T) {
		// fileno() raising io.UnsupportedOperation (BytesIO's), then
		// NotImplementedError, as a hand-written file-like may.
		for _, query := range []string{"", "?fileno=notimplemented"} {
			resp, body := s.get(t, "/file-wrapper-nofd"+query)
			expectStatus(t, resp, body, 200)
			if string(body) != "in-memory" {
				t.Fatalf("%s: body %q", query, body)
			}
			waitClosed(t, s, "/file-wrapper-nofd")
		}
	})
	t.Run("1 MB of response headers", func(t *testing.T) {
		resp, err := http.Get(s.url + "/big-headers")
		if err == nil {
			resp.Body.Close()
		}
		// Either answer is fine; the server must keep serving.
		resp2, body := s.get(t, "/ok")
		expectStatus(t, resp2, body, 200)
	})
}

// A large response is sent with no Python thread held: with --threads 1,
// a client that stops reading a large download must not stop the app,
// and a file_wrapper's close() still comes once the file is sent.
func TestLargeResponsesHoldNoPythonThread(t *testing.T) {
	s := startApps(t, "errors:application", "--threads", "1", "--write-timeout", "5s")
	const size = 32 << 20 // far more than the socket buffers hold
	for _, path := range []string{"/file-wrapper", "/big-body"} {
		t.Run(path, func(t *testing.T) {
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s?size=%d HTTP/1.1\r\nHost: t\r\n\r\n", path, size)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || resp.ContentLength != size {
				t.Fatalf("download: status %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
			}
			// The download now stalls on this client; the one Python
			// thread must still answer others at once.
			start := time.Now()
			r2, body := s.get(t, "/ok")
			expectStatus(t, r2, body, 200)
			if d := time.Since(start); d > time.Second {
				t.Errorf("a request waited %v behind a stalled download", d)
			}
			// The rest arrives whole.
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			if err != nil || n != size {
				t.Fatalf("download: %d of %d bytes, %v", n, size, err)
			}
			want := sha256.Sum256(patternBytes(size))
			if !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("download: the bytes differ from the app's")
			}
		})
	}
	waitClosed(t, s, "/file-wrapper")
}

// A client that reads slowly but steadily is never cut by the write
// timeout, however large the file or the body item: the deadline moves on
// with each 512 KiB the client takes.
func TestSlowSteadyDownloadOutlivesWriteTimeout(t *testing.T) {
	s := startApps(t, "errors:application", "--write-timeout", "1s")
	const size = 12 << 20
	for _, path := range []string{"/file-wrapper", "/big-body"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", s.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s?size=%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path, size)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			// About 3 MB/s: a 4 MiB piece would need 1.3 s of it.
			h := sha256.New()
			var n int64
			for {
				m, err := io.CopyN(h, resp.Body, 384<<10)
				n += m
				if err != nil {
					break
				}
				time.Sleep(125 * time.Millisecond)
			}
			want := sha256.Sum256(patternBytes(size))
			if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("got %d of %d bytes (or other bytes) at a steady 3 MB/s with --write-timeout 1s\nserver log:\n%s",
					n, size, s.stderr.String())
			}
		})
	}
}

// The body timeout covers reading the body only: an app that works for
// longer than it after reading a chunked body still answers.
func TestBodyTimeoutEndsWithTheBody(t *testing.T) {
	s := startApps(t, "errors:application", "--body-timeout", "1s")
	resp, body := s.do(t, http.MethodPost, "/read-then-sleep?s=2", io.MultiReader(strings.NewReader("hello")))
	expectStatus(t, resp, body, 200)
	if string(body) != "read 5" {
		t.Fatalf("body %q", body)
	}
}

// An HTTP/1.0 client that half-closes its side after the request (as
// simple tools do) still reads a streamed answer whole.
func TestHalfClosedClientGetsStreamedResponse(t *testing.T) {
	s := startApps(t, "errors:application")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /stream-n?n=5 HTTP/1.0\r\nHost: t\r\n\r\n")
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.HasSuffix(got, []byte("chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n")) {
		t.Fatalf("read %q, %v", got, err)
	}
}

// patternBytes is testdata/apps/errors.py's pattern_bytes: bytes 0-255
// repeated, cut to size.
func patternBytes(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i % 256)
	}
	return b
}

func TestStreamingFlushesEachChunk(t *testing.T) {
	s := startApps(t, "streaming:application")
	start := time.Now()
	resp, err := http.Get(s.url + "/wait-first")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("want a chunked response, got length %d TE %v", resp.ContentLength, resp.TransferEncoding)
	}
	r := bufio.NewReader(resp.Body)
	first, err := r.ReadString('\n')
	firstAt := time.Since(start)
	if err != nil || first != "first\n" {
		t.Fatalf("first chunk %q %v", first, err)
	}
	rest, err := io.ReadAll(r)
	total := time.Since(start)
	if err != nil || string(rest) != "last\n" {
		t.Fatalf("rest %q %v", rest, err)
	}
	if firstAt > 1500*time.Millisecond || total < 1900*time.Millisecond {
		t.Fatalf("first chunk after %s, whole body after %s: the first chunk must arrive before the generator ends", firstAt, total)
	}

	// Chunks that come back to back may be sent together (host/stream.go),
	// but never held back while the app then waits.
	start = time.Now()
	resp3, err := http.Get(s.url + "/burst-then-wait")
	if err != nil {
		t.Fatal(err)
	}
	defer resp3.Body.Close()
	burst := make([]byte, 2000)
	if _, err := io.ReadFull(resp3.Body, burst); err != nil {
		t.Fatalf("the burst: %v", err)
	}
	burstAt := time.Since(start)
	for i := range burst {
		if want := byte('0' + i/100%10); burst[i] != want {
			t.Fatalf("burst byte %d is %q, want %q", i, burst[i], want)
		}
	}
	rest, err = io.ReadAll(resp3.Body)
	if err != nil || string(rest) != "last\n" {
		t.Fatalf("after the burst %q %v", rest, err)
	}
	if burstAt > 1000*time.Millisecond {
		t.Fatalf("the burst's last chunk arrived after %s: it waited for the app's pause", burstAt)
	}

	// A whole body in one chunk waits for the app's iterable to finish
	// (host/stream.go), but not for a slow close().
	start = time.Now()
	resp4, err := http.Get(s.url + "/slow-close")
	if err != nil {
		t.Fatal(err)
	}
	defer resp4.Body.Close()
	whole, err := io.ReadAll(resp4.Body)
	if wholeAt := time.Since(start); err != nil || string(whole) != "whole body\n" || wholeAt > 1000*time.Millisecond {
		t.Fatalf("/slow-close: %q %v after %s: the body must not wait for close()", whole, err, wholeAt)
	}

	resp2, body := s.get(t, "/?chunks=50&size=1000")
	expectStatus(t, resp2, body, 200)
	if len(body) != 50000 || body[0] != 'a' || body[49999] != byte('a'+49%26) {
		t.Fatalf("50 chunks: %d bytes", len(body))
	}
}

// chunkedInput is a multi-line body sent chunked, so wsgi.input streams.
const chunkedInput = "first line\nsecond\n\nfourth line is longer than the others\nno newline at the end"

func TestChunkedRequestBodyThroughEveryReadMethod(t *testing.T) {
	s := startApps(t, "errors:application")
	wantLines := strings.SplitAfter(chunkedInput, "\n")
	sum := sha256.Sum256([]byte(chunkedInput))
	for _, mode := range []string{"read", "read-n", "readline", "readlines", "iter"} {
		t.Run(mode, func(t *testing.T) {
			// An io.Reader without a length makes the client send chunked,
			// split across several writes.
			pr, pw := io.Pipe()
			go func() {
				for _, part := range []string{chunkedInput[:5], chunkedInput[5:30], chunkedInput[30:]} {
					pw.Write([]byte(part))
					time.Sleep(10 * time.Millisecond)
				}
				pw.Close()
			}()
			resp, body := s.do(t, http.MethodPost, "/input?mode="+mode, pr)
			expectStatus(t, resp, body, 200)
			var got struct {
				Parts  []string `json:"parts"`
				Len    int      `json:"joined_len"`
				Sha256 string   `json:"joined_sha256"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got.Len != len(chunkedInput) || got.Sha256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("body arrived as %d bytes %s, want %d", got.Len, got.Sha256, len(chunkedInput))
			}
			switch mode {
			case "readline", "readlines", "iter":
				if !slices.Equal(got.Parts, wantLines) {
					t.Fatalf("lines %q, want %q", got.Parts, wantLines)
				}
			case "read-n":
				for _, p := range got.Parts[:len(got.Parts)-1] {
					if len(p) != 7 {
						t.Fatalf("read(7) returned %d bytes before the end: %q", len(p), got.Parts)
					}
				}
			}
		})
	}
}

// rawExchange writes raw bytes on a fresh connection and returns what the
// server answers until it closes or goes quiet.
func rawConn(t *testing.T, s *testServer) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	return conn
}

// A request net/http refuses before any handler runs gets a warning that
// names the client, the status and (first on its connection) the request
// line, as gunicorn's "Invalid request from ip=..."; a request that is
// answered, refused by the app or handed to net/http whole, gets none.
func TestMalformedRequestsAreLogged(t *testing.T) {
	s := startApps(t, "errors:application")
	cases := []struct {
		name, request, status, line string
	}{
		{"not HTTP", "BLAH\r\n\r\n", "400 Bad Request", `"BLAH"`},
		{"second Host", "GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request", `"GET /two-hosts HTTP/1.1"`},
		{"Content-Length +5", "POST /plus HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", "400 Bad Request", `"POST /plus HTTP/1.1"`},
		{"space in a header name", "GET /space HTTP/1.1\r\nHost: a\r\nBad Header: v\r\n\r\n", "400 Bad Request", `"GET /space HTTP/1.1"`},
		{"HTTP/2.0 request line", "GET /h2 HTTP/2.0\r\nHost: a\r\n\r\n", "505 HTTP Version Not Supported", `"GET /h2 HTTP/2.0"`},
		{"gzip, chunked", "POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501 Not Implemented", `"POST /te HTTP/1.1"`},
		{"control byte in the line", "GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", "400 Bad Request", `"GET /a\x01b HTTP/1.1"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn := rawConn(t, s)
			io.WriteString(conn, c.request)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no response: %v", err)
			}
			resp.Body.Close()
			if got := strconv.Itoa(resp.StatusCode); !strings.HasPrefix(c.status, got) {
				t.Fatalf("status %d, want %s", resp.StatusCode, c.status)
			}
			tail := " (request line " + c.line + ")"
			s.waitLog(t, tail)
			for _, line := range strings.Split(s.stderr.String(), "\n") {
				if strings.HasSuffix(line, tail) && (!strings.Contains(line, "[WARNING] Invalid request from 127.0.0.1:") || !strings.Contains(line, ": "+c.status)) {
					t.Errorf("log line %q; want a warning naming the client and %q", line, c.status)
				}
			}
		})
	}
	before := strings.Count(s.stderr.String(), "Invalid request from")
	conn := rawConn(t, s)
	io.WriteString(conn, "POST /input HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("chunked POST (handed to net/http): %v %v", resp, err)
	}
	resp, body := s.get(t, "/no-such-route") // the app's own 404
	expectStatus(t, resp, body, 404)
	time.Sleep(200 * time.Millisecond)
	if after := strings.Count(s.stderr.String(), "Invalid request from"); after != before {
		t.Errorf("a valid request was logged as invalid:\n%s", s.stderr.String())
	}
}

// A request path cannot forge a line of the error log: a decoded %0a is
// logged escaped.
func TestErrorLogLinesCannotBeForgedByThePath(t *testing.T) {
	s := startApps(t, "errors:application")
	conn := rawConn(t, s)
	// A body cut short: the server logs the request with its path.
	fmt.Fprintf(conn, "POST /input%%0a[2026-01-01]%%20[CRITICAL]%%20forged HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
	_ = conn.(*net.TCPConn).CloseWrite()
	_, _ = io.ReadAll(conn)
	s.waitLog(t, "reading the request body")
	if log := s.stderr.String(); strings.Contains(log, "\n[2026-01-01] [CRITICAL] forged") || !strings.Contains(strings.ToLower(log), "/input%0a") {
		t.Errorf("the path reached the log unescaped:\n%s", log)
	}
}

// The same for the --request-timeout warning, whose path the master's
// WORKER TIMEOUT line takes from the same place.
func TestRequestTimeoutLogLineCannotBeForgedByThePath(t *testing.T) {
	s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps", args: []string{"--request-timeout", "0.3"}})
	resp, body := s.get(t, "/sleep/%0a[2026-01-01]%20[CRITICAL]%20forged?s=1")
	resp.Body.Close()
	s.waitLog(t, "past --request-timeout")
	if log := s.stderr.String(); strings.Contains(log, "\n[2026-01-01] [CRITICAL] forged") || !strings.Contains(strings.ToLower(log), "/sleep/%0a") {
		t.Errorf("the path reached the log unescaped (answer %d %q):\n%s", resp.StatusCode, body, log)
	}
}

func TestExpectContinue(t *testing.T) {
	s := startApps(t, "environ_dump:application")
	conn := rawConn(t, s)
	body := strings.Repeat("z", 100<<10) // above the pre-read size: streams
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue before the body, got %q %v", line, err)
	}
	if _, err := r.ReadString('\n'); err != nil { // blank line after the 100
		t.Fatal(err)
	}
	io.WriteString(conn, body)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	var env map[string]any
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatalf("%v: %.200s", err, data)
	}
	if env["body_len"] != float64(len(body)) {
		t.Fatalf("body_len %v, want %d", env["body_len"], len(body))
	}
}

func TestKeepAliveAndPipelining(t *testing.T) {
	s := startApps(t, "environ_dump:application")
	conn := rawConn(t, s)
	// Three requests in one write; answers must come back in order.
	var reqs bytes.Buffer
	for i, path := range []string{"/one", "/two?x=1", "/three"} {
		body := strings.Repeat("b", i*10)
		fmt.Fprintf(&reqs, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
	}
	conn.Write(reqs.Bytes())
	r := bufio.NewReader(conn)
	for i, want := range []string{"/one", "/two", "/three"} {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		data, _ := io.ReadAll(resp.Body)
		var env map[string]any
		if err := json.Unmarshal(data, &env); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		if env["PATH_INFO"] != want || env["body_len"] != float64(i*10) {
			t.Fatalf("response %d is for %v (body %v), want %s", i, env["PATH_INFO"], env["body_len"], want)
		}
	}
}

func TestEnvironThroughTheBridge(t *testing.T) {
	s := startApps(t, "environ_dump:application", "--root-path", "/mount")
	resp, body := s.do(t, http.MethodPost, "/mount/a%20b/%E9?q=%20x&y", strings.NewReader("payload"),
		"X-Custom", "caf\xe9", "X_Forwarded_For", "6.6.6.6", "Content-Type", "text/plain")
	expectStatus(t, resp, body, 200)
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"REQUEST_METHOD":        "POST",
		"SCRIPT_NAME":           "/mount",
		"PATH_INFO":             "/a b/\u00e9", // %E9 decoded to one latin-1 byte
		"QUERY_STRING":          "q=%20x&y",
		"CONTENT_TYPE":          "text/plain",
		"CONTENT_LENGTH":        "7",
		"SERVER_PROTOCOL":       "HTTP/1.1",
		"REMOTE_ADDR":           "127.0.0.1",
		"HTTP_X_CUSTOM":         "caf\u00e9",
		"wsgi.url_scheme":       "http",
		"wsgi.input_terminated": true,
		"wsgi.multithread":      true,
		"wsgi.multiprocess":     false,
		"wsgi.run_once":         false,
		"body":                  "payload",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %#v, want %#v", k, env[k], v)
		}
	}
	if v, ok := env["wsgi.version"].([]any); !ok || len(v) != 2 || v[0] != float64(1) || v[1] != float64(0) {
		t.Errorf("wsgi.version = %v", env["wsgi.version"])
	}
	if _, ok := env["HTTP_X_FORWARDED_FOR"]; ok {
		t.Errorf("X_Forwarded_For became HTTP_X_FORWARDED_FOR")
	}
	for _, k := range []string{"wsgi.input", "wsgi.errors", "wsgi.file_wrapper", "SERVER_NAME", "SERVER_PORT", "REMOTE_PORT"} {
		if _, ok := env[k]; !ok {
			t.Errorf("environ lacks %s", k)
		}
	}
}

func TestSlowRequestsDoNotBlockOthers(t *testing.T) {
	s := startApps(t, "errors:application", "--threads", "4")
	t.Run("a sleeping request", func(t *testing.T) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			http.Get(s.url + "/sleep?s=2")
		}()
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		resp, body := s.get(t, "/ok")
		expectStatus(t, resp, body, 200)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a fast request took %s next to a sleeping one", d)
		}
		<-done
	})
	t.Run("short I/O waits overlap", func(t *testing.T) {
		// 128 requests that each wait 1 ms with the GIL released (a
		// database query), first from one client, then from 16. With 4
		// threads the 16 clients must finish in well under the one
		// client's time. Requests queue behind a running one, and 1 ms
		// is under the watchdog's 2 ms no-progress rule, so this checks
		// that a runner blocked in I/O gets company at once (the
		// watchdog reads its thread's CPU clock); without that the two
		// times are equal.
		timed := func(clients int) time.Duration {
			start := time.Now()
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 128/clients; i++ {
						resp, err := http.Get(s.url + "/sleep?s=0.001")
						if err != nil {
							t.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
			}
			wg.Wait()
			return time.Since(start)
		}
		one, sixteen := timed(1), timed(16)
		t.Logf("128 requests of 1 ms I/O: %s from 1 client, %s from 16", one, sixteen)
		if sixteen > one*6/10 {
			t.Fatalf("16 clients took %s, one client %s: short I/O waits did not overlap", sixteen, one)
		}
	})
	t.Run("a client that does not read", func(t *testing.T) {
		// 64 MiB streamed to a client that never reads: its Python thread
		// waits on the socket with the GIL released.
		conn := rawConn(t, s)
		fmt.Fprintf(conn, "GET /stream-forever HTTP/1.1\r\nHost: x\r\n\r\n")
		time.Sleep(500 * time.Millisecond)
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				resp, err := http.Get(s.url + "/ok")
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if d := time.Since(start); d > time.Second {
					t.Errorf("a request took %s while another client stalled", d)
				}
			}()
		}
		wg.Wait()
	})
}

func TestGracefulShutdownFinishesInFlightRequests(t *testing.T) {
	s := startApps(t, "errors:application")
	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.url + "/sleep?s=1.5")
		if err != nil {
			result <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if got := <-result; got != "200 slept" {
		t.Fatalf("in-flight request during SIGTERM: %s", got)
	}
	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, s.stderr.String())
	}
	if _, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
		t.Fatalf("still accepting after shutdown")
	}
}

// A connection that never sends a request (a browser's preconnect, an
// HTTP client's spare) does not hold a graceful stop for --header-timeout
// (10 s before): it is closed after a second of shutdown.
func TestGracefulShutdownClosesSilentConnections(t *testing.T) {
	s := startApps(t, "errors:application")
	silent := rawConn(t, s)
	resp, body := s.get(t, "/ok") // the silent one is surely accepted
	expectStatus(t, resp, body, 200)
	start := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, s.stderr.String())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("SIGTERM to exit took %v with one silent connection open", d)
	}
	_ = silent.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := silent.Read(make([]byte, 1)); err == nil {
		t.Errorf("the silent connection read %d bytes after the stop", n)
	}
}

func TestContentLengthIsEnforced(t *testing.T) {
	s := startApps(t, "errors:application")
	t.Run("more bytes than declared are dropped", func(t *testing.T) {
		conn := rawConn(t, s)
		r := bufio.NewReader(conn)
		// Two requests on one connection: the extra bytes must not leak
		// into the second response.
		// The same through write(): no exception in the app, the same
		// whole response.
		fmt.Fprintf(conn, "GET /length-too-short HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /length-too-short?write=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []string{"12345", "ok", "12345", "ok"} {
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != want {
				t.Fatalf("body %q %v, want %q", body, err, want)
			}
		}
		s.waitLog(t, "more body bytes than its Content-Length")
	})
	t.Run("fewer bytes than declared close the connection", func(t *testing.T) {
		conn := rawConn(t, s)
		fmt.Fprintf(conn, "GET /length-too-long HTTP/1.1\r\nHost: x\r\n\r\n")
		data, err := io.ReadAll(conn) // returns at EOF: the server closed
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), "HTTP/1.1 200") || !strings.HasSuffix(string(data), "\r\n\r\n12345") {
			t.Fatalf("got %q", data)
		}
	})
	t.Run("close() raising is logged, the response stands", func(t *testing.T) {
		resp, body := s.get(t, "/close-raises")
		expectStatus(t, resp, body, 200)
		if string(body) != "fine" {
			t.Fatalf("body %q", body)
		}
		s.waitLog(t, "RuntimeError: close() failed on purpose")
	})
}

func TestForwardedHeadersOnlyFromTrustedPeers(t *testing.T) {
	headers := []string{"X-Forwarded-For", "203.0.113.9, 127.0.0.1", "X-Forwarded-Proto", "https"}
	envOf := func(s *testServer) map[string]any {
		_, body := s.get(t, "/", headers...)
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	// The test client is 127.0.0.1, trusted by default.
	env := envOf(startApps(t, "environ_dump:application"))
	if env["REMOTE_ADDR"] != "203.0.113.9" || env["wsgi.url_scheme"] != "https" {
		t.Errorf("trusted proxy: REMOTE_ADDR %v scheme %v", env["REMOTE_ADDR"], env["wsgi.url_scheme"])
	}
	env = envOf(startApps(t, "environ_dump:application", "--forwarded-allow-ips", "192.0.2.1"))
	if env["REMOTE_ADDR"] != "127.0.0.1" || env["wsgi.url_scheme"] != "http" || env["HTTP_X_FORWARDED_FOR"] != "203.0.113.9, 127.0.0.1" {
		t.Errorf("untrusted peer changed the environ: REMOTE_ADDR %v scheme %v XFF %v", env["REMOTE_ADDR"], env["wsgi.url_scheme"], env["HTTP_X_FORWARDED_FOR"])
	}
}

func TestGracefulShutdownFinalizesPython(t *testing.T) {
	// atexit handlers run only when Python is finalised: a graceful stop
	// must get that far (a shutdown error once skipped it silently).
	dir := t.TempDir()
	marker := filepath.Join(dir, "atexit-ran")
	app := fmt.Sprintf(`import atexit

def _bye():
    with open(%q, "w") as f:
        f.write("yes")

atexit.register(_bye)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`, marker)
	if err := os.WriteFile(filepath.Join(dir, "atexit_app.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOptions{app: "atexit_app:application", args: []string{"--chdir", dir}})
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, s.stderr.String())
	}
	if data, err := os.ReadFile(marker); err != nil || string(data) != "yes" {
		t.Fatalf("atexit handler did not run (%v):\n%s", err, s.stderr.String())
	}
	if strings.Contains(s.stderr.String(), "graceful shutdown:") {
		t.Fatalf("the graceful stop reported a failure:\n%s", s.stderr.String())
	}
}
