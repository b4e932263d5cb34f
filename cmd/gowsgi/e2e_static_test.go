package main

// End-to-end tests of --static: files served by Go under a URL prefix,
// with front_mux (testdata/apps) as the app, whose /calls list proves
// that no static request reached Python.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// staticTree writes a --static DIR (with a precompressed pair, a
// subdirectory and a symlink out) next to a secret file, and returns DIR.
func staticTree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "static")
	files := map[string]string{
		"app.css":       "body { color: red }\n",
		"app.css.gz":    "GZIP-BYTES",
		"app.css.br":    "BR-BYTES",
		"digits.txt":    "0123456789",
		"js/site.js":    "console.log(1)\n",
		"img/logo.svg":  "<svg/>",
		"font.woff2":    "wOF2",
		"sub/inner.txt": "inner",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "secret.txt"), []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dir, "link-out.txt")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// identity asks for the file as it is: Go's client would otherwise add
// Accept-Encoding: gzip itself and hide the Content-Encoding it got.
var identity = []string{"Accept-Encoding", "identity"}

func TestStaticServing(t *testing.T) {
	t.Parallel()
	dir := staticTree(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--static", "/static/=" + dir, "--static-max-age", "1h", "--access-logfile", "-"}})

	resp, body := s.get(t, "/static/app.css", identity...)
	expectStatus(t, resp, body, 200)
	if string(body) != "body { color: red }\n" || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("app.css: %q type %q cache %q", body, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"))
	}
	etag, lastMod := resp.Header.Get("Etag"), resp.Header.Get("Last-Modified")
	if etag == "" || lastMod == "" {
		t.Fatalf("no ETag (%q) or Last-Modified (%q)", etag, lastMod)
	}
	resp, body = s.get(t, "/static/app.css", append(identity, "If-None-Match", etag)...)
	expectStatus(t, resp, body, 304)
	resp, body = s.get(t, "/static/app.css", append(identity, "If-Modified-Since", lastMod)...)
	expectStatus(t, resp, body, 304)

	resp, body = s.get(t, "/static/digits.txt", "Range", "bytes=3-6")
	expectStatus(t, resp, body, 206)
	if string(body) != "3456" || resp.Header.Get("Content-Range") != "bytes 3-6/10" {
		t.Errorf("Range 3-6: %q %q", body, resp.Header.Get("Content-Range"))
	}
	resp, body = s.get(t, "/static/digits.txt", "Range", "bytes=50-")
	expectStatus(t, resp, body, 416)
	if resp.Header.Get("Content-Range") != "bytes */10" {
		t.Errorf("416 Content-Range %q", resp.Header.Get("Content-Range"))
	}

	for accept, want := range map[string]struct{ encoding, body string }{
		"gzip, deflate, br":  {"br", "BR-BYTES"},
		"gzip":               {"gzip", "GZIP-BYTES"},
		"br;q=0, gzip;q=0.8": {"gzip", "GZIP-BYTES"},
		"identity":           {"", "body { color: red }\n"},
	} {
		resp, body = s.get(t, "/static/app.css", "Accept-Encoding", accept)
		expectStatus(t, resp, body, 200)
		if string(body) != want.body || resp.Header.Get("Content-Encoding") != want.encoding || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
			t.Errorf("Accept-Encoding %q: %q encoding %q type %q", accept, body, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
		}
		if want.encoding != "" && (resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("Etag") == etag) {
			t.Errorf("Accept-Encoding %q: Vary %q, ETag %q (plain %q)", accept, resp.Header.Get("Vary"), resp.Header.Get("Etag"), etag)
		}
	}

	for path, want := range map[string]string{
		"/static/js/site.js":    "text/javascript; charset=utf-8",
		"/static/img/logo.svg":  "image/svg+xml",
		"/static/font.woff2":    "font/woff2",
		"/static/sub/inner.txt": "text/plain; charset=utf-8",
	} {
		resp, body = s.get(t, path, identity...)
		expectStatus(t, resp, body, 200)
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", path, got, want)
		}
	}

	resp, body = s.do(t, http.MethodPost, "/static/app.css", strings.NewReader("x"))
	expectStatus(t, resp, body, 405)
	if resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("405 Allow %q", resp.Header.Get("Allow"))
	}

	// Raw request lines, so no client cleans the path first.
	for _, target := range []string{
		"/static/../secret.txt",
		"/static/sub/../../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/%2E%2E/%2e%2e/secret.txt",
		"/static/..%2fsecret.txt",
		"/static/sub%2f..%2f..%2fsecret.txt",
		"/static/sub%2finner.txt",
		`/static/..\secret.txt`,
		"/static/..%5csecret.txt",
		"/static/sub%5c..%5c..%5csecret.txt",
		"/static/link-out.txt",
		"/static/app.css%00.txt",
		"/static/",
		"/static/sub/",
		"/static/missing.css",
		"/static/" + filepath.Join(filepath.Dir(dir), "secret.txt"), // "//tmp/...": absolute
	} {
		status, body, _ := frontRaw(t, s.addr, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if status != 404 || strings.Contains(string(body), "SECRET") {
			t.Errorf("GET %s: %d %q, want 404", target, status, body)
		}
	}

	// Only the request outside the prefix reached the app.
	resp, body = s.get(t, "/not-static/app.css")
	expectStatus(t, resp, body, 200)
	if calls := s.calls(t); !slices.Equal(calls, []string{"/not-static/app.css"}) {
		t.Errorf("the app was called for %q; static requests must never reach it", calls)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stdout.String(), `"GET /static/app.css HTTP/1.1" 200 20 `) || !strings.Contains(s.stdout.String(), `"GET /static/digits.txt HTTP/1.1" 206 4 `) {
		if time.Now().After(deadline) {
			t.Fatalf("static requests missing from the access log:\n%s", s.stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStaticWorkers(t *testing.T) {
	t.Parallel()
	dir := staticTree(t)
	// DIR relative to where gowsgi starts (this test's directory), not to
	// --chdir: each worker opens it before changing directory.
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--workers", "2", "--static", "/assets=" + rel}})
	for i := 0; i < 6; i++ { // over several connections, so both workers answer
		req, _ := newTestRequest(http.MethodGet, s.url+"/assets/digits.txt", nil, "Connection", "close")
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "0123456789" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("worker mode: %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	}
	status, _, _ := frontRaw(t, s.addr, "GET /assets/%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if status != 404 {
		t.Errorf("worker mode traversal: %d", status)
	}
	if calls := s.calls(t); len(calls) != 0 {
		t.Errorf("the app was called for %q", calls)
	}
}

func TestStaticConfigErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"static=" + filepath.Dir(file):  `the URL prefix must start with "/"`,
		"/static/=" + file:              "is not a directory",
		"/static/=" + file + "-missing": "no such file or directory",
	} {
		code, out := frontRunUntilExit(t, 30*time.Second, "run", "--static", spec, "hello:application")
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("--static %q: exit %d, output %q; want 2 and %q", spec, code, out, want)
		}
	}
	code, out := frontRunUntilExit(t, 30*time.Second, "run", "--static-max-age", "soon", "hello:application")
	if code != 2 || !strings.Contains(out, "static-max-age") {
		t.Errorf("--static-max-age soon: exit %d, output %q", code, out)
	}
}

// readSyscalls is syscr in /proc/PID/io: read-type system calls made,
// sendfile(2) included (one per call).
func readSyscalls(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("syscr %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("no syscr in /proc/%d/io", pid)
	return 0
}

// rssKB is VmRSS of pid in kB.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestStaticLargeSparseFile downloads a 1 GiB file (sparse, with marks at
// known offsets) and checks it arrives byte-identical, that the app was
// never called, and that the server's RSS did not grow with the file.
func TestStaticLargeSparseFile(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB download")
	}
	dir := t.TempDir()
	const size = 1 << 30
	name := filepath.Join(dir, "big.bin")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	marks := map[int64]string{0: "START", 123456789: "middle-mark", size/2 + 7: "half", size - 3: "END"}
	for off, text := range marks {
		if _, err := f.WriteAt([]byte(text), off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := fileSHA256(t, name)

	// The mark off: with --tcp-notsent-lowat each sendfile(2) moves
	// only what the client has taken since the last (about 45 KiB per call
	// to this test's client), and the call count below could no longer
	// tell sendfile from a copy through 32 KiB buffers.
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--static", "/files/=" + dir, "--tcp-notsent-lowat", "0"}})
	pid := s.cmd.Process.Pid
	// A small ranged read first: whatever is allocated once per server is
	// in place before the measurement.
	resp, body := s.get(t, "/files/big.bin", "Range", "bytes=123456789-123456799")
	expectStatus(t, resp, body, 206)
	if string(body) != "middle-mark" {
		t.Fatalf("range at the mark: %q", body)
	}
	before, readsBefore := rssKB(t, pid), readSyscalls(t, pid)

	start := time.Now()
	req, _ := newTestRequest(http.MethodGet, s.url+"/files/big.bin", nil, identity...)
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || resp.StatusCode != 200 {
		t.Fatalf("download: status %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	elapsed := time.Since(start)
	after, reads := rssKB(t, pid), readSyscalls(t, pid)-readsBefore
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("download sha256 %s, file %s", got, want)
	}
	t.Logf("1 GiB in %s (%.0f MB/s); server RSS %d kB before, %d kB after; %d read-type syscalls", elapsed.Round(time.Millisecond), float64(size)/1e6/elapsed.Seconds(), before, after, reads)
	// sendfile(2) moves 512 KiB per call (about 2048 calls); a copy
	// through user space with net/http's 32 KiB buffers needs 32768 reads.
	if reads > 8192 {
		t.Errorf("%d read-type syscalls for 1 GiB: the file was copied through user space, not sendfile(2)", reads)
	}
	if growth := after - before; growth > 20<<10 {
		t.Errorf("server RSS grew by %d kB serving the file (from %d kB)", growth, before)
	}
	if calls := s.calls(t); len(calls) != 0 {
		t.Errorf("the app was called for %q", calls)
	}
}

func fileSHA256(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestStaticDjangoCollectstatic runs the demo's collectstatic into a temp
// STATIC_ROOT and serves the admin's CSS from it through --static, with
// the Django app itself still answering its own routes.
func TestStaticDjangoCollectstatic(t *testing.T) {
	t.Parallel()
	staticRoot := filepath.Join(t.TempDir(), "staticfiles")
	env := djangoMigrate(t, "DEMO_STATIC_ROOT="+staticRoot)
	cmd := exec.Command(filepath.Join(testVenv, "bin", "python"), "manage.py", "collectstatic", "--noinput")
	cmd.Dir = filepath.Join(repoRoot, "testdata", "django_demo")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("manage.py collectstatic: %v\n%s", err, out)
	}
	css, err := os.ReadFile(filepath.Join(staticRoot, "admin", "css", "base.css"))
	if err != nil {
		t.Fatalf("collectstatic did not write the admin CSS: %v", err)
	}
	s := startServer(t, serverOptions{app: "demo.wsgi:application", dir: "testdata/django_demo", env: env,
		args: []string{"--static", "/static/=" + staticRoot}})
	resp, body := s.get(t, "/static/admin/css/base.css", identity...)
	expectStatus(t, resp, body, 200)
	if resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || string(body) != string(css) {
		t.Errorf("admin base.css: type %q, %d bytes (want %d)", resp.Header.Get("Content-Type"), len(body), len(css))
	}
	resp, body = s.get(t, "/static/admin/js/core.js", identity...)
	expectStatus(t, resp, body, 200)
	if resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("admin core.js: type %q", resp.Header.Get("Content-Type"))
	}
	// Django still serves what is not static.
	resp, body = s.get(t, "/admin/login/")
	expectStatus(t, resp, body, 200)
	if !strings.Contains(string(body), "/static/admin/css/base.css") {
		t.Errorf("the admin login page does not link the static CSS: %.300q", body)
	}
}
