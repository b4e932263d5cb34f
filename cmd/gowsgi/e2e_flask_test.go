package main

// End-to-end tests against the real Flask app in testdata/flask_app (routes
// and expected answers: testdata/README.md). One server per test function;
// the subtests share it and run in order, because the item store is
// in-process state.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startFlask serves flask_app.app:app with testdata/ on sys.path.
func startFlask(t *testing.T) *testServer {
	t.Helper()
	return startServer(t, serverOptions{app: "flask_app.app:app", dir: "testdata"})
}

// flaskDecode unmarshals a JSON response body or fails the test.
func flaskDecode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("response is not the expected JSON: %v; body %.300q", err, body)
	}
}

// flaskUploadFile is one entry of /upload's "files" object.
type flaskUploadFile struct {
	Field       string `json:"field"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	ContentType string `json:"content_type"`
}

// flaskUploadResult is /upload's JSON answer.
type flaskUploadResult struct {
	Files map[string]flaskUploadFile `json:"files"`
	Form  map[string]string          `json:"form"`
}

func flaskSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// headOnWire sends HEAD path on a raw connection and returns the response.
// Go's client never reads a body after HEAD, so a server that wrongly sends
// one would go unseen; here any byte that arrives after the head is an
// error, and a GET of getPath on the same connection must still parse and
// answer 200 (keep-alive survived the HEAD).
func headOnWire(t *testing.T, s *testServer, path, getPath string) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "HEAD %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, s.addr)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil {
		t.Fatalf("HEAD %s: %v\nserver log:\n%s", path, err, s.stderr.String())
	}
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if extra, _ := br.Peek(1); len(extra) > 0 {
		n := br.Buffered()
		b, _ := br.Peek(n)
		t.Errorf("HEAD %s: %d+ bytes after the response head: %.100q", path, n, b)
		return resp
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", getPath, s.addr)
	next, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("GET %s after HEAD %s on one connection: %v", getPath, path, err)
	}
	_, err = io.Copy(io.Discard, next.Body)
	next.Body.Close()
	if err != nil || next.StatusCode != http.StatusOK {
		t.Errorf("GET %s after HEAD %s: status %d, body error %v", getPath, path, next.StatusCode, err)
	}
	return resp
}

func TestFlask(t *testing.T) {
	s := startFlask(t)

	t.Run("ListItems", func(t *testing.T) {
		resp, body := s.get(t, "/api/items")
		expectStatus(t, resp, body, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q, want application/json", ct)
		}
		var items []map[string]any
		flaskDecode(t, body, &items)
		want := []map[string]any{
			{"id": 1.0, "name": "apple", "price": 3.0},
			{"id": 2.0, "name": "banana", "price": 2.0},
		}
		if len(items) < 2 || !reflect.DeepEqual(items[:2], want) {
			t.Errorf("items %v, want first two %v", items, want)
		}
	})

	t.Run("CreateAndGetItem", func(t *testing.T) {
		resp, body := s.do(t, http.MethodPost, "/api/items",
			strings.NewReader(`{"name":"cherry","price":5}`), "Content-Type", "application/json")
		expectStatus(t, resp, body, http.StatusCreated)
		var created map[string]any
		flaskDecode(t, body, &created)
		id, _ := created["id"].(float64)
		if created["name"] != "cherry" || created["price"] != 5.0 || id < 3 {
			t.Fatalf("created %v, want cherry/5 with id >= 3", created)
		}

		resp, body = s.get(t, fmt.Sprintf("/api/items/%d", int(id)))
		expectStatus(t, resp, body, http.StatusOK)
		var got map[string]any
		flaskDecode(t, body, &got)
		if !reflect.DeepEqual(got, created) {
			t.Errorf("GET item %v, want %v", got, created)
		}

		// The new item is in the list too (same process: one server).
		resp, body = s.get(t, "/api/items")
		expectStatus(t, resp, body, http.StatusOK)
		var items []map[string]any
		flaskDecode(t, body, &items)
		found := false
		for _, it := range items {
			found = found || reflect.DeepEqual(it, created)
		}
		if !found {
			t.Errorf("list %v lacks %v", items, created)
		}
	})

	t.Run("CreateItemNotObject", func(t *testing.T) {
		resp, body := s.do(t, http.MethodPost, "/api/items",
			strings.NewReader(`[1,2]`), "Content-Type", "application/json")
		expectStatus(t, resp, body, http.StatusBadRequest)
		var got map[string]any
		flaskDecode(t, body, &got)
		if got["error"] != "expected a JSON object" {
			t.Errorf("body %v", got)
		}
	})

	t.Run("ItemNotFound", func(t *testing.T) {
		resp, body := s.get(t, "/api/items/9999")
		expectStatus(t, resp, body, http.StatusNotFound)
		var got map[string]any
		flaskDecode(t, body, &got)
		if got["error"] != "not found" || got["id"] != 9999.0 {
			t.Errorf("body %v, want not found / 9999", got)
		}
	})

	t.Run("FormGet", func(t *testing.T) {
		resp, body := s.get(t, "/form")
		expectStatus(t, resp, body, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q, want text/html", ct)
		}
		for _, want := range []string{`<form method="post" action="/form">`,
			`name="name"`, `name="email"`, `name="message"`} {
			if !bytes.Contains(body, []byte(want)) {
				t.Errorf("form page lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("FormPostURLEncoded", func(t *testing.T) {
		form := url.Values{"name": {"Ann"}, "tag": {"x", "y"}, "city": {"Zürich €"}}
		resp, body := s.do(t, http.MethodPost, "/form", strings.NewReader(form.Encode()),
			"Content-Type", "application/x-www-form-urlencoded")
		expectStatus(t, resp, body, http.StatusOK)
		var got map[string]any
		flaskDecode(t, body, &got)
		want := map[string]any{"name": "Ann", "tag": []any{"x", "y"}, "city": "Zürich €"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("form %v, want %v", got, want)
		}
	})

	t.Run("UploadSmall", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		_ = mw.WriteField("note", "hello")
		fw, _ := mw.CreateFormFile("doc", "small.txt")
		content := []byte("small file content\n")
		_, _ = fw.Write(content)
		_ = mw.Close()
		resp, body := s.do(t, http.MethodPost, "/upload", &buf, "Content-Type", mw.FormDataContentType())
		expectStatus(t, resp, body, http.StatusOK)
		var got flaskUploadResult
		flaskDecode(t, body, &got)
		f, ok := got.Files["small.txt"]
		if !ok || f.Field != "doc" || f.Size != int64(len(content)) || f.SHA256 != flaskSHA256(content) {
			t.Errorf("files %+v, want small.txt in field doc, %d bytes, %s", got.Files, len(content), flaskSHA256(content))
		}
		if got.Form["note"] != "hello" {
			t.Errorf("form %v, want note=hello", got.Form)
		}
	})

	// 10 MB is far above the 64 KiB that is read before dispatch, so this
	// streams through wsgi.input with many reads.
	t.Run("Upload10MB", func(t *testing.T) {
		content := make([]byte, 10<<20)
		if _, err := rand.Read(content); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("big", "random.bin")
		_, _ = fw.Write(content)
		_ = mw.WriteField("after", "tail-field")
		_ = mw.Close()
		payload := buf.Bytes()
		want := flaskSHA256(content)
		// Sized (Content-Length) and chunked (io.MultiReader hides the
		// size, so the client sends Transfer-Encoding: chunked and Werkzeug
		// relies on wsgi.input_terminated).
		for _, tc := range []struct {
			name string
			body io.Reader
		}{
			{"ContentLength", bytes.NewReader(payload)},
			{"Chunked", io.MultiReader(bytes.NewReader(payload))},
		} {
			resp, body := s.do(t, http.MethodPost, "/upload", tc.body, "Content-Type", mw.FormDataContentType())
			expectStatus(t, resp, body, http.StatusOK)
			var got flaskUploadResult
			flaskDecode(t, body, &got)
			f := got.Files["random.bin"]
			if f.Field != "big" || f.Size != int64(len(content)) || f.SHA256 != want {
				t.Errorf("%s: upload reported %+v, want field big, %d bytes, sha256 %s", tc.name, f, len(content), want)
			}
			if got.Form["after"] != "tail-field" {
				t.Errorf("%s: form %v, want after=tail-field", tc.name, got.Form)
			}
		}
	})

	// Over MAX_CONTENT_LENGTH (64 MiB) Flask answers 413 from the declared
	// Content-Length, before reading the body; sent raw so that the client
	// need not push 64 MiB that nobody reads.
	t.Run("UploadTooLarge", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", s.addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: %s\r\n"+
			"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: %d\r\n\r\n--xyz\r\n",
			s.addr, 64<<20+1)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("read response: %v\nserver log:\n%s", err, s.stderr.String())
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413; body %.300q", resp.StatusCode, body)
		}
		if !bytes.Contains(body, []byte("Request Entity Too Large")) {
			t.Errorf("body is not Flask's 413 page: %.300q", body)
		}
		// 64 MiB that the app will never read must not be waited for: the
		// server ends the connection after the answer.
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := conn.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("after the 413: read %d bytes, %v; want the connection closed", n, err)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		resp, body := s.get(t, "/stream")
		expectStatus(t, resp, body, http.StatusOK)
		var want strings.Builder
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&want, "line %d GET\n", i)
		}
		if string(body) != want.String() {
			t.Errorf("body %q, want %q", body, want.String())
		}
		// No Content-Length from the app: HTTP/1.1 must send it chunked.
		chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
		if !chunked || resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
			t.Errorf("TransferEncoding %v, ContentLength %d: want chunked without Content-Length",
				resp.TransferEncoding, resp.ContentLength)
		}
	})

	t.Run("Session", func(t *testing.T) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: testClient.CheckRedirect}
		get := func(path string) (*http.Response, map[string]any) {
			t.Helper()
			resp, err := client.Get(s.url + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			expectStatus(t, resp, body, http.StatusOK)
			var v map[string]any
			flaskDecode(t, body, &v)
			return resp, v
		}
		if _, v := get("/session/get"); v["v"] != nil {
			t.Errorf("fresh session: %v, want v null", v)
		}
		resp, v := get("/session/set?v=round-trip")
		if v["v"] != "round-trip" {
			t.Errorf("set: %v", v)
		}
		if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "session=") {
			t.Errorf("Set-Cookie %q, want session=…", sc)
		}
		if _, v := get("/session/get"); v["v"] != "round-trip" {
			t.Errorf("get with the session cookie: %v, want round-trip", v)
		}
		// Without the cookie the session is empty again.
		resp2, body := s.get(t, "/session/get")
		expectStatus(t, resp2, body, http.StatusOK)
		var v2 map[string]any
		flaskDecode(t, body, &v2)
		if v2["v"] != nil {
			t.Errorf("get without cookie: %v, want v null", v2)
		}
	})

	t.Run("Cookie", func(t *testing.T) {
		resp, body := s.get(t, "/cookie")
		expectStatus(t, resp, body, http.StatusOK)
		if string(body) != "cookie set\n" {
			t.Errorf("body %q", body)
		}
		var plain *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "plain" {
				plain = c
			}
		}
		if plain == nil || plain.Value != "cookie-value" || plain.Path != "/" {
			t.Errorf("Set-Cookie %q, want plain=cookie-value; Path=/", resp.Header.Values("Set-Cookie"))
		}
	})

	t.Run("Redirect", func(t *testing.T) {
		resp, body := s.get(t, "/redirect")
		expectStatus(t, resp, body, http.StatusFound)
		if loc := resp.Header.Get("Location"); loc != "/api/items" {
			t.Errorf("Location %q, want /api/items", loc)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		resp, body := s.get(t, "/no-such-route")
		expectStatus(t, resp, body, http.StatusNotFound)
		if !bytes.Contains(body, []byte("Not Found")) {
			t.Errorf("body is not Flask's 404 page: %.300q", body)
		}
	})

	// HEAD on GET routes: same status and headers, never a body.
	t.Run("Head", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/api/items", 200}, {"/form", 200}, {"/stream", 200},
			{"/redirect", 302}, {"/api/items/9999", 404},
		} {
			resp := headOnWire(t, s, tc.path, "/api/items/1")
			if resp.StatusCode != tc.status {
				t.Errorf("HEAD %s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
			}
		}
	})

	// Requests in parallel over the 4 Python threads, each checked.
	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		for i := 0; i < 48; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				var req *http.Request
				var want string
				switch i % 3 {
				case 0:
					req, _ = http.NewRequest(http.MethodGet, s.url+"/api/items/1", nil)
					want = `"name":"apple"`
				case 1:
					req, _ = http.NewRequest(http.MethodGet, s.url+"/stream", nil)
					want = "line 9 GET\n"
				case 2:
					v := fmt.Sprintf("n%d", i)
					req, _ = http.NewRequest(http.MethodPost, s.url+"/form", strings.NewReader("name="+v))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					want = fmt.Sprintf(`"name":"%s"`, v)
				}
				resp, err := testClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
					errs <- fmt.Sprintf("%s %s: %d %v %.200q, want %q", req.Method, req.URL.Path, resp.StatusCode, err, body, want)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})

	t.Run("Raise", func(t *testing.T) {
		resp, body := s.get(t, "/raise")
		expectStatus(t, resp, body, http.StatusInternalServerError)
		if !bytes.Contains(body, []byte("Internal Server Error")) {
			t.Errorf("body is not Flask's 500 page: %.300q", body)
		}
		// Flask's logger writes the traceback to wsgi.errors.
		s.waitLog(t, "RuntimeError: flask_app /raise: deliberate error")
		log := s.stderr.String()
		if !strings.Contains(log, "Traceback (most recent call last)") {
			t.Errorf("no traceback in the log:\n%s", log)
		}
		// The server is still healthy.
		resp, body = s.get(t, "/api/items/1")
		expectStatus(t, resp, body, http.StatusOK)
	})
}

// TestFlaskWerkzeugMultipart replays Werkzeug's captured browser uploads
// (../shared/corpora/werkzeug-multipart) through gowsgi into Flask and
// checks each file against the copy stored beside the capture.
func TestFlaskWerkzeugMultipart(t *testing.T) {
	corpus := filepath.Join(repoRoot, "..", "shared", "corpora", "werkzeug-multipart")
	entries, err := os.ReadDir(corpus)
	if err != nil {
		t.Skipf("no werkzeug multipart corpus: %v", err)
	}
	s := startFlask(t)
	ran := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(corpus, e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "request.http"))
		if err != nil {
			continue
		}
		ran++
		t.Run(e.Name(), func(t *testing.T) {
			// The capture is the body only; its first line is "--" + boundary.
			first, _, _ := bytes.Cut(raw, []byte("\n"))
			boundary := strings.TrimPrefix(strings.TrimRight(string(first), "\r"), "--")
			resp, body := s.do(t, http.MethodPost, "/upload", bytes.NewReader(raw),
				"Content-Type", `multipart/form-data; boundary="`+boundary+`"`)
			expectStatus(t, resp, body, http.StatusOK)
			var got flaskUploadResult
			flaskDecode(t, body, &got)

			// What the browser declared for each file part, read with Go's
			// own multipart parser: field -> filename and content type.
			declared := map[string][2]string{}
			mr := multipart.NewReader(bytes.NewReader(raw), boundary)
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				if p.FileName() != "" {
					declared[p.FormName()] = [2]string{p.FileName(), p.Header.Get("Content-Type")}
				}
			}

			// Files are stored as <field>.png; the form text as text.txt
			// (LF line ends and a final newline; the browser sent CRLF).
			fields := map[string]bool{}
			for name, f := range got.Files {
				fields[f.Field] = true
				if d := declared[f.Field]; d[0] != name || d[1] != f.ContentType {
					t.Errorf("field %s: Flask saw file %q (%s), the capture declares %q (%s)",
						f.Field, name, f.ContentType, d[0], d[1])
				}
				want, err := os.ReadFile(filepath.Join(dir, f.Field+".png"))
				if err != nil {
					t.Errorf("file %q in field %q: no stored copy: %v", name, f.Field, err)
					continue
				}
				if f.Size != int64(len(want)) || f.SHA256 != flaskSHA256(want) {
					t.Errorf("file %q (field %s): size %d sha256 %s, want %d %s",
						name, f.Field, f.Size, f.SHA256, len(want), flaskSHA256(want))
				}
			}
			if !fields["file1"] || !fields["file2"] || len(got.Files) != 2 {
				t.Errorf("files %+v, want fields file1 and file2", got.Files)
			}
			wantText, err := os.ReadFile(filepath.Join(dir, "text.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if text := strings.ReplaceAll(got.Form["text"], "\r\n", "\n") + "\n"; text != string(wantText) {
				t.Errorf("form text %q, want %q", got.Form["text"], wantText)
			}
		})
	}
	if ran == 0 {
		t.Skip("no capture directories in the corpus")
	}

	// The IE7 capture (LF line ends, a full client path in the filename)
	// is a lone file; Werkzeug reports the filename without the path.
	t.Run("ie7_full_path_request", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(corpus, "ie7_full_path_request.http"))
		if err != nil {
			t.Skipf("absent: %v", err)
		}
		first, _, _ := bytes.Cut(raw, []byte("\n"))
		boundary := strings.TrimPrefix(strings.TrimRight(string(first), "\r"), "--")
		resp, body := s.do(t, http.MethodPost, "/upload", bytes.NewReader(raw),
			"Content-Type", `multipart/form-data; boundary="`+boundary+`"`)
		expectStatus(t, resp, body, http.StatusOK)
		var got flaskUploadResult
		flaskDecode(t, body, &got)
		f, ok := got.Files["Sellersburg Town Council Meeting 02-22-2010doc.doc"]
		if !ok || f.Field != "cb_file_upload_multiple" || f.Size == 0 {
			t.Errorf("files %+v, want the .doc in cb_file_upload_multiple", got.Files)
		}
		if got.Form["submit"] != "Submit" {
			t.Errorf("form %v, want submit=Submit", got.Form)
		}
	})
}
