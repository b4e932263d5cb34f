package main

// End-to-end tests against the Django project in testdata/django_demo
// (routes and expected answers: testdata/README.md). Each test migrates a
// fresh SQLite database in its temp dir, so no test touches the repo's.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// djangoMigrate creates the demo database in a temp dir with
// `manage.py migrate` and returns the environment that points both the
// server and manage.py at it (DEMO_DB=…), plus extra.
func djangoMigrate(t *testing.T, extra ...string) []string {
	t.Helper()
	requireVenv(t)
	env := append([]string{"DEMO_DB=" + filepath.Join(t.TempDir(), "db.sqlite3")}, extra...)
	cmd := exec.Command(filepath.Join(testVenv, "bin", "python"), "manage.py", "migrate", "--noinput")
	cmd.Dir = filepath.Join(repoRoot, "testdata", "django_demo")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("manage.py migrate: %v\n%s", err, out)
	}
	return env
}

// startDjango migrates a fresh database and serves demo.wsgi:application.
func startDjango(t *testing.T, extraEnv ...string) *testServer {
	t.Helper()
	env := djangoMigrate(t, extraEnv...)
	return startServer(t, serverOptions{app: "demo.wsgi:application", dir: "testdata/django_demo", env: env})
}

// djangoPatternFile writes size bytes of a deterministic, non-repeating-
// at-short-range pattern to path and returns its sha256 (hex).
func djangoPatternFile(t *testing.T, path string, size int) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	// 1 MiB blocks, each stamped with its index so that a misplaced or
	// repeated block changes the hash.
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7 + i>>8)
	}
	for off, n := 0, 0; off < size; off, n = off+len(block), n+1 {
		copy(block, fmt.Sprintf("block %08d\n", n))
		b := block
		if size-off < len(b) {
			b = b[:size-off]
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

var djangoCSRFInput = regexp.MustCompile(`<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">`)

func TestDjango(t *testing.T) {
	const downloadSize = 100 << 20
	download := filepath.Join(t.TempDir(), "demo-download.bin")
	downloadSum := djangoPatternFile(t, download, downloadSize)
	s := startDjango(t, "DEMO_DOWNLOAD="+download)

	t.Run("Index", func(t *testing.T) {
		resp, body := s.get(t, "/")
		expectStatus(t, resp, body, http.StatusOK)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("Content-Type %q", ct)
		}
		page := string(body)
		// The products come from the migrated database; the title and the
		// header link come from the base template.
		for _, want := range []string{
			"<title>Products | Demo shop</title>",
			`<li class="product">Anvil: $49.99</li>`,
			`<li class="product">Bicycle: $199.00</li>`,
			`<li class="product">Coffee mug: $7.50</li>`,
			`<a href="/contact/">Contact</a>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("index lacks %q:\n%s", want, page)
			}
		}
		if n := strings.Count(page, `<li class="product">`); n != 3 {
			t.Errorf("%d products, want 3", n)
		}
	})

	t.Run("HeadIndex", func(t *testing.T) {
		resp := headOnWire(t, s, "/", "/")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HEAD /: status %d, want 200", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("HEAD /: Content-Type %q, want the GET's text/html", ct)
		}
		// HEAD of the 100 MB FileResponse: the headers of the GET, and the
		// file (wsgi.file_wrapper, perhaps sendfile) must not be sent.
		resp = headOnWire(t, s, "/download/", "/")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != fmt.Sprint(downloadSize) {
			t.Errorf("HEAD /download/: status %d Content-Length %q, want 200 and %d",
				resp.StatusCode, resp.Header.Get("Content-Length"), downloadSize)
		}
	})

	t.Run("Contact", func(t *testing.T) {
		resp, body := s.get(t, "/contact/")
		expectStatus(t, resp, body, http.StatusOK)
		m := djangoCSRFInput.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no csrfmiddlewaretoken in the form:\n%s", body)
		}
		token := string(m[1])
		var cookie string
		for _, c := range resp.Cookies() {
			if c.Name == "csrftoken" {
				cookie = c.Value
			}
		}
		if cookie == "" {
			t.Fatalf("no csrftoken cookie: Set-Cookie %q", resp.Header.Values("Set-Cookie"))
		}
		post := func(fields url.Values, withCookie bool) (*http.Response, []byte) {
			t.Helper()
			h := []string{"Content-Type", "application/x-www-form-urlencoded"}
			if withCookie {
				h = append(h, "Cookie", "csrftoken="+cookie)
			}
			return s.do(t, http.MethodPost, "/contact/", strings.NewReader(fields.Encode()), h...)
		}
		valid := url.Values{"csrfmiddlewaretoken": {token}, "name": {"Ann"},
			"email": {"ann@example.com"}, "message": {"Hello from gowsgi"}}

		resp, body = post(valid, true)
		expectStatus(t, resp, body, http.StatusFound)
		if loc := resp.Header.Get("Location"); loc != "/contact/thanks/" {
			t.Errorf("Location %q, want /contact/thanks/", loc)
		}

		invalid := url.Values{"csrfmiddlewaretoken": {token}, "name": {"Ann"},
			"email": {"not-an-email"}, "message": {"x"}}
		resp, body = post(invalid, true)
		expectStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), "errorlist") {
			t.Errorf("invalid email: no errorlist in the form:\n%s", body)
		}

		// A 100 KiB message: the body streams through wsgi.input (past the
		// 64 KiB read before dispatch); the form rejects it (max 2000).
		long := url.Values{"csrfmiddlewaretoken": {token}, "name": {"Ann"},
			"email": {"ann@example.com"}, "message": {strings.Repeat("m", 100<<10)}}
		resp, body = post(long, true)
		expectStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), "errorlist") {
			t.Errorf("100 KiB message: no errorlist in the form:\n%.500s", body)
		}

		// Neither the cookie nor the field: CSRF rejects it.
		resp, body = post(url.Values{"name": {"Ann"}, "email": {"ann@example.com"}, "message": {"x"}}, false)
		expectStatus(t, resp, body, http.StatusForbidden)
		if !strings.Contains(string(body), "CSRF") {
			t.Errorf("403 is not Django's CSRF page: %.300q", body)
		}
		// The field without the cookie is rejected as well.
		resp, body = post(valid, false)
		expectStatus(t, resp, body, http.StatusForbidden)

		resp, body = s.get(t, "/contact/thanks/")
		expectStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(string(body), "Thanks") {
			t.Errorf("thanks page: %.300q", body)
		}
	})

	t.Run("AppendSlash", func(t *testing.T) {
		resp, body := s.get(t, "/contact")
		expectStatus(t, resp, body, http.StatusMovedPermanently)
		if loc := resp.Header.Get("Location"); loc != "/contact/" {
			t.Errorf("Location %q, want /contact/", loc)
		}
	})

	t.Run("Stream", func(t *testing.T) {
		resp, body := s.get(t, "/stream/")
		expectStatus(t, resp, body, http.StatusOK)
		var want strings.Builder
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&want, "line %d\n", i)
		}
		if string(body) != want.String() {
			t.Errorf("body %q, want %q", body, want.String())
		}
		if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("ContentLength %d TransferEncoding %v: want chunked", resp.ContentLength, resp.TransferEncoding)
		}
	})

	// 100 MB through FileResponse → wsgi.file_wrapper; hashed as it
	// arrives rather than held in memory.
	t.Run("Download", func(t *testing.T) {
		resp, err := testClient.Get(s.url + "/download/")
		if err != nil {
			t.Fatalf("GET /download/: %v\n%s", err, s.stderr.String())
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			t.Fatalf("status %d, want 200; body %q", resp.StatusCode, b)
		}
		if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(downloadSize) {
			t.Errorf("Content-Length %q, want %d", cl, downloadSize)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="demo-download.bin"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("Content-Type %q, want application/octet-stream", ct)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		if n != downloadSize || hex.EncodeToString(h.Sum(nil)) != downloadSum {
			t.Errorf("got %d bytes sha256 %x, want %d bytes %s", n, h.Sum(nil), downloadSize, downloadSum)
		}
	})

	t.Run("Boom", func(t *testing.T) {
		resp, body := s.get(t, "/boom/")
		expectStatus(t, resp, body, http.StatusInternalServerError)
		if !strings.Contains(string(body), "<h1>Server Error (500)</h1>") {
			t.Errorf("body %.300q", body)
		}
		// Django logs the traceback to stderr, which is the server's log.
		s.waitLog(t, "RuntimeError: django_demo /boom/: deliberate error")
		if log := s.stderr.String(); !strings.Contains(log, "Traceback (most recent call last)") ||
			!strings.Contains(log, "[django] ERROR django.request") {
			t.Errorf("no Django traceback in the log:\n%s", log)
		}
		resp, body = s.get(t, "/")
		expectStatus(t, resp, body, http.StatusOK)
	})

	t.Run("NotFound", func(t *testing.T) {
		for _, p := range []string{"/nope/", "/nope"} {
			resp, body := s.get(t, p)
			expectStatus(t, resp, body, http.StatusNotFound)
			if !strings.Contains(string(body), "Not Found") {
				t.Errorf("%s: body %.300q", p, body)
			}
		}
	})

	t.Run("Admin", func(t *testing.T) {
		resp, body := s.get(t, "/admin/")
		expectStatus(t, resp, body, http.StatusFound)
		if loc := resp.Header.Get("Location"); loc != "/admin/login/?next=/admin/" {
			t.Errorf("Location %q", loc)
		}
		resp, body = s.get(t, "/admin/login/")
		expectStatus(t, resp, body, http.StatusOK)
		page := string(body)
		for _, want := range []string{`<form`, `id="login-form"`, `name="username"`,
			`name="password"`, `name="csrfmiddlewaretoken"`, `/static/admin/css/base.css`} {
			if !strings.Contains(page, want) {
				t.Errorf("login page lacks %q", want)
			}
		}
	})
}

// TestDjangoDownloadMissing: /download/ naming no file is Django's 404.
func TestDjangoDownloadMissing(t *testing.T) {
	s := startDjango(t, "DEMO_DOWNLOAD="+filepath.Join(t.TempDir(), "absent.bin"))
	resp, body := s.get(t, "/download/")
	expectStatus(t, resp, body, http.StatusNotFound)
}
