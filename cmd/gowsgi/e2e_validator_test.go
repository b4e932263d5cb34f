package main

// Every testdata app served behind wsgiref.validate.validator (through
// testdata/apps/validate_wrap.py). The validator checks both sides of PEP
// 3333 on each request: it raises AssertionError (the server answers 500 and
// logs it) or warns with WSGIWarning, and its iterator wrapper complains
// from __del__ when the server drops a response without close(). So each
// test checks the answers and, after stopping the server, a clean log.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// validatorCase is one request to a validated app and what must come back.
type validatorCase struct {
	name     string
	method   string // GET when empty
	path     string
	body     string
	chunked  bool     // send body with Transfer-Encoding: chunked
	header   []string // name, value pairs
	status   int
	wantBody *string                                  // exact body, when set
	contains []string                                 // substrings of the body
	check    func(*testing.T, *http.Response, []byte) // anything else
}

func vstr(s string) *string { return &s }

// startValidated serves validate_wrap:wrap("<spec>") from testdata/apps.
func startValidated(t *testing.T, spec string, env ...string) *testServer {
	t.Helper()
	return startServer(t, serverOptions{
		app: fmt.Sprintf("validate_wrap:wrap(%q)", spec),
		dir: "testdata/apps",
		env: env,
	})
}

// runValidatorCases sends each case in order (subtests share the server).
func runValidatorCases(t *testing.T, s *testServer, cases []validatorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // size unknown → chunked
				}
			}
			resp, data := s.do(t, method, tc.path, body, tc.header...)
			expectStatus(t, resp, data, tc.status)
			if tc.wantBody != nil && string(data) != *tc.wantBody {
				t.Errorf("body %q, want %q", data, *tc.wantBody)
			}
			for _, want := range tc.contains {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("body lacks %q: %.500q", want, data)
				}
			}
			if tc.check != nil {
				tc.check(t, resp, data)
			}
		})
	}
}

// expectValidatorCleanLog stops the server (so that Python has dropped
// every response and shown any late __del__ complaint) and fails on any
// validator assertion, warning, traceback or server error in its log.
func expectValidatorCleanLog(t *testing.T, s *testServer) {
	t.Helper()
	s.stop(t)
	log := s.stderr.String()
	for _, bad := range []string{
		"AssertionError",
		"Warning", // WSGIWarning and any other warnings-module output
		"garbage collected without being closed",
		"Exception ignored",
		"Traceback",
		"[ERROR]",
	} {
		if strings.Contains(log, bad) {
			t.Errorf("server log contains %q:\n%s", bad, log)
		}
	}
}

// validatorJSON decodes body into v or fails.
func validatorJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("not JSON: %v; body %.300q", err, body)
	}
}

func TestValidatorHello(t *testing.T) {
	s := startValidated(t, "hello")
	hello := vstr("Hello, world")
	runValidatorCases(t, s, []validatorCase{
		{name: "Get", path: "/", status: 200, wantBody: hello, check: func(t *testing.T, r *http.Response, _ []byte) {
			if r.Header.Get("Content-Type") != "text/plain" || r.ContentLength != 12 {
				t.Errorf("Content-Type %q Content-Length %d", r.Header.Get("Content-Type"), r.ContentLength)
			}
		}},
		{name: "Query", path: "/any/path?x=1&y=%20", status: 200, wantBody: hello},
		{name: "PostIgnoredBody", method: "POST", path: "/", body: "unread body", status: 200, wantBody: hello},
		{name: "Head", method: "HEAD", path: "/", status: 200, wantBody: vstr("")},
	})
	expectValidatorCleanLog(t, s)
}

func TestValidatorEnvironDump(t *testing.T) {
	s := startValidated(t, "environ_dump")
	// environ checks on top of the validator's own.
	dump := func(method, path, query, body string) func(*testing.T, *http.Response, []byte) {
		return func(t *testing.T, _ *http.Response, data []byte) {
			var env map[string]any
			validatorJSON(t, data, &env)
			for k, want := range map[string]any{
				"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
				"SCRIPT_NAME": "", "wsgi.url_scheme": "http", "body": body,
				"body_len": float64(len(body)), "wsgi.input_terminated": true,
			} {
				if !reflect.DeepEqual(env[k], want) {
					t.Errorf("%s = %#v, want %#v", k, env[k], want)
				}
			}
			if !reflect.DeepEqual(env["wsgi.version"], []any{1.0, 0.0}) {
				t.Errorf("wsgi.version %v", env["wsgi.version"])
			}
		}
	}
	big := strings.Repeat("0123456789abcdef", 8192) // 128 KiB: streamed, not pre-read
	runValidatorCases(t, s, []validatorCase{
		{name: "Get", path: "/a/b?c=d", status: 200, check: dump("GET", "/a/b", "c=d", "")},
		{name: "PostSmall", method: "POST", path: "/p", body: "a=1&b=2", status: 200,
			header: []string{"Content-Type", "application/x-www-form-urlencoded"},
			check:  dump("POST", "/p", "", "a=1&b=2")},
		{name: "PostLarge", method: "POST", path: "/p", body: big, status: 200, check: dump("POST", "/p", "", big)},
		{name: "PostChunked", method: "POST", path: "/c", body: big, chunked: true, status: 200,
			check: dump("POST", "/c", "", big)},
		{name: "Put", method: "PUT", path: "/u", body: "put body", status: 200, check: dump("PUT", "/u", "", "put body")},
		{name: "Delete", method: "DELETE", path: "/d", status: 200, check: dump("DELETE", "/d", "", "")},
	})
	expectValidatorCleanLog(t, s)
}

func TestValidatorStreaming(t *testing.T) {
	s := startValidated(t, "streaming")
	chunked := func(t *testing.T, r *http.Response, _ []byte) {
		if r.ContentLength != -1 || len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
			t.Errorf("ContentLength %d TransferEncoding %v: want chunked", r.ContentLength, r.TransferEncoding)
		}
	}
	runValidatorCases(t, s, []validatorCase{
		{name: "Default", path: "/", status: 200, wantBody: vstr("aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee"), check: chunked},
		{name: "Params", path: "/?chunks=3&size=4&delay=0.01", status: 200, wantBody: vstr("aaaabbbbcccc"), check: chunked},
		{name: "Many", path: "/?chunks=200&size=1000", status: 200, check: func(t *testing.T, r *http.Response, b []byte) {
			if len(b) != 200000 || b[0] != 'a' || b[len(b)-1] != byte('a'+199%26) {
				t.Errorf("%d bytes, first %q last %q", len(b), b[:1], b[len(b)-1:])
			}
		}},
		{name: "Empty", path: "/?chunks=0", status: 200, wantBody: vstr("")},
		{name: "BadQuery", path: "/?chunks=x", status: 400, wantBody: vstr("bad query")},
		{name: "NotFound", path: "/nope", status: 404, wantBody: vstr("not found")},
	})
	expectValidatorCleanLog(t, s)
}

// TestValidatorErrors covers only the errors app's good routes (the bad
// ones break PEP 3333 on purpose and the validator would rightly object);
// /closed then shows that the server closed every response.
func TestValidatorErrors(t *testing.T) {
	s := startValidated(t, "errors")
	const input = "a\nbb\nccc"
	inputParts := func(want ...string) func(*testing.T, *http.Response, []byte) {
		return func(t *testing.T, _ *http.Response, data []byte) {
			var got struct {
				Parts     []string `json:"parts"`
				JoinedLen int      `json:"joined_len"`
			}
			validatorJSON(t, data, &got)
			if !reflect.DeepEqual(got.Parts, want) || got.JoinedLen != len(input) {
				t.Errorf("parts %q (len %d), want %q (len %d)", got.Parts, got.JoinedLen, want, len(input))
			}
		}
	}
	// /file-wrapper's body: bytes(range(256)) repeated, cut to 1000.
	pattern := make([]byte, 1000)
	for i := range pattern {
		pattern[i] = byte(i)
	}
	runValidatorCases(t, s, []validatorCase{
		{name: "Reset", path: "/closed?reset=1", status: 200, wantBody: vstr("[]")},
		{name: "Ok", path: "/ok", status: 200, wantBody: vstr("ok")},
		{name: "Write", path: "/write", status: 200, wantBody: vstr("written-returned")},
		{name: "StreamN", path: "/stream-n?n=3", status: 200, wantBody: vstr("chunk 0\nchunk 1\nchunk 2\n")},
		{name: "ExcInfo", path: "/exc-info", status: 500, wantBody: vstr("replaced"), check: func(t *testing.T, r *http.Response, _ []byte) {
			if r.Header.Get("X-Replaced") != "1" || r.Header.Get("X-First") != "" {
				t.Errorf("X-Replaced %q X-First %q: want the second start_response's headers only",
					r.Header.Get("X-Replaced"), r.Header.Get("X-First"))
			}
		}},
		{name: "FileWrapper", path: "/file-wrapper?size=1000", status: 200, wantBody: vstr(string(pattern)),
			check: func(t *testing.T, r *http.Response, _ []byte) {
				if r.ContentLength != 1000 || r.Header.Get("Content-Type") != "application/octet-stream" {
					t.Errorf("Content-Length %d Content-Type %q", r.ContentLength, r.Header.Get("Content-Type"))
				}
			}},
		{name: "FileWrapperNoFd", path: "/file-wrapper-nofd", status: 200, wantBody: vstr("in-memory")},
		{name: "InputReadN", method: "POST", path: "/input?mode=read-n", body: input, status: 200,
			check: inputParts("a\nbb\ncc", "c")},
		{name: "InputReadNChunked", method: "POST", path: "/input?mode=read-n", body: input, chunked: true, status: 200,
			check: inputParts("a\nbb\ncc", "c")},
		{name: "InputReadline", method: "POST", path: "/input?mode=readline", body: input, status: 200,
			check: inputParts("a\n", "bb\n", "ccc")},
		{name: "InputReadlines", method: "POST", path: "/input?mode=readlines", body: input, status: 200,
			check: inputParts("a\n", "bb\n", "ccc")},
		{name: "InputIter", method: "POST", path: "/input?mode=iter", body: input, status: 200,
			check: inputParts("a\n", "bb\n", "ccc")},
		// HEAD sends no body, but the iterable must still be closed.
		{name: "HeadStreamN", method: "HEAD", path: "/stream-n?n=3", status: 200, wantBody: vstr("")},
		{name: "HeadFileWrapper", method: "HEAD", path: "/file-wrapper?size=1000", status: 200, wantBody: vstr("")},
		{name: "Closed", path: "/closed", status: 200, check: func(t *testing.T, _ *http.Response, data []byte) {
			var closed []string
			validatorJSON(t, data, &closed)
			want := []string{"/ok", "/write", "/stream-n", "/exc-info", "/file-wrapper",
				"/file-wrapper-nofd", "/input", "/input", "/input", "/input", "/input",
				"/stream-n", "/file-wrapper"}
			if !reflect.DeepEqual(closed, want) {
				t.Errorf("closed %q, want %q (each response closed once)", closed, want)
			}
		}},
	})
	expectValidatorCleanLog(t, s)
}

func TestValidatorFlask(t *testing.T) {
	s := startValidated(t, "flask_app.app:app")
	runValidatorCases(t, s, []validatorCase{
		{name: "ListItems", path: "/api/items", status: 200, contains: []string{`"name":"apple"`, `"name":"banana"`}},
		{name: "CreateItem", method: "POST", path: "/api/items", body: `{"name":"kiwi","price":1}`, status: 201,
			header: []string{"Content-Type", "application/json"}, contains: []string{`"name":"kiwi"`, `"id":3`}},
		{name: "GetItem", path: "/api/items/3", status: 200, contains: []string{`"name":"kiwi"`}},
		{name: "FormPost", method: "POST", path: "/form", body: url.Values{"name": {"Ann"}, "tag": {"x", "y"}}.Encode(), status: 200,
			header: []string{"Content-Type", "application/x-www-form-urlencoded"}, contains: []string{`"name":"Ann"`, `"tag":["x","y"]`}},
		{name: "Upload", method: "POST", path: "/upload", status: 200,
			body:   "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--\r\n",
			header: []string{"Content-Type", "multipart/form-data; boundary=b"},
			// sha256("abc")
			contains: []string{`"a.txt"`, `"size":3`, `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`}},
		// 1 MiB: far past the 64 KiB read before dispatch, so Werkzeug
		// reads it through the validator's wsgi.input in read(size) calls.
		{name: "UploadLarge", method: "POST", path: "/upload", status: 200,
			body:     "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.txt\"\r\n\r\n" + strings.Repeat("z", 1<<20) + "\r\n--b--\r\n",
			header:   []string{"Content-Type", "multipart/form-data; boundary=b"},
			contains: []string{`"big.txt"`, fmt.Sprintf(`"size":%d`, 1<<20)}},
		{name: "Stream", path: "/stream", status: 200, contains: []string{"line 0 GET\n", "line 9 GET\n"}},
		{name: "HeadStream", method: "HEAD", path: "/stream", status: 200, wantBody: vstr("")},
		{name: "Redirect", path: "/redirect", status: 302, check: func(t *testing.T, r *http.Response, _ []byte) {
			if r.Header.Get("Location") != "/api/items" {
				t.Errorf("Location %q", r.Header.Get("Location"))
			}
		}},
		{name: "Form", path: "/form", status: 200, contains: []string{`<form method="post" action="/form">`}},
	})
	expectValidatorCleanLog(t, s)
}

func TestValidatorDjango(t *testing.T) {
	env := djangoMigrate(t)
	s := startValidated(t, "demo.wsgi:application", env...)
	runValidatorCases(t, s, []validatorCase{
		{name: "Index", path: "/", status: 200, contains: []string{
			`<li class="product">Anvil: $49.99</li>`, `<li class="product">Coffee mug: $7.50</li>`}},
		{name: "Stream", path: "/stream/", status: 200, wantBody: vstr(
			"line 0\nline 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n")},
		{name: "Contact", path: "/contact/", status: 200, contains: []string{`name="csrfmiddlewaretoken"`}},
		{name: "HeadIndex", method: "HEAD", path: "/", status: 200, wantBody: vstr("")},
	})
	expectValidatorCleanLog(t, s)
}

// TestValidatorCatchesViolation is the control for the clean-log checks
// above: the validator is really in the way, and what it raises reaches
// the log. wsgi.input.read() with no size is a breach it rejects.
func TestValidatorCatchesViolation(t *testing.T) {
	s := startValidated(t, "errors")
	resp, body := s.do(t, http.MethodPost, "/input?mode=read", strings.NewReader("abc"))
	expectStatus(t, resp, body, http.StatusInternalServerError)
	s.waitLog(t, "AssertionError")
	resp, body = s.get(t, "/ok")
	expectStatus(t, resp, body, http.StatusOK)
}
