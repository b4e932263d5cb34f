package host

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// staticFixture is a DIR with files, a precompressed pair, a subdirectory,
// symlinks in and out, and a secret next to DIR.
type staticFixture struct {
	dir    string // the --static DIR
	secret string // a file outside DIR
}

func newStaticFixture(t *testing.T) staticFixture {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "static")
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.css", "body { color: red }\n")
	write("app.css.gz", "GZIP-BYTES")
	write("app.css.br", "BR-BYTES")
	write("only-gz.js", "console.log(1)\n")
	write("only-gz.js.gz", "GZ-ONLY")
	write("digits.txt", "0123456789")
	write("sub/deep.svg", "<svg/>")
	write("font.woff2", "wOF2")
	write("noext", "raw")
	write(".env", "SECRET=1")
	write(".git/config", "[core] SECRET")
	write("sub/.htpasswd", "admin:SECRET")
	write(".well-known/security.txt", "Contact: mailto:security@example.org")
	secret := filepath.Join(base, "secret.txt")
	if err := os.WriteFile(secret, []byte("SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "out.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(base, filepath.Join(dir, "outdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("digits.txt", filepath.Join(dir, "in.txt")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.css"), 0o644); err != nil {
		t.Fatal(err)
	}
	return staticFixture{dir: dir, secret: secret}
}

// staticServe builds the handler for cfg with a next handler that records
// the paths it got, and serves one request with raw target.
type staticRig struct {
	h      http.Handler
	passed []string
}

func newStaticRig(t *testing.T, cfg Config) *staticRig {
	t.Helper()
	mounts, err := openStaticMounts(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mounts.close)
	rig := &staticRig{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.passed = append(rig.passed, r.URL.Path)
		_, _ = io.WriteString(w, "python")
	})
	rig.h = newStaticHandler(cfg, mounts, next, nil, NewLogger(io.Discard, LevelInfo))
	return rig
}

func (rig *staticRig) do(method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	rig.h.ServeHTTP(w, r)
	return w
}

func staticConfig(specs ...string) Config {
	cfg := DefaultConfig()
	cfg.Static = specs
	return cfg
}

func TestStaticServesFileWithValidators(t *testing.T) {
	fx := newStaticFixture(t)
	cfg := staticConfig("/static=" + fx.dir)
	cfg.StaticMaxAge = time.Hour
	rig := newStaticRig(t, cfg)

	w := rig.do("GET", "/static/app.css")
	if w.Code != 200 || w.Body.String() != "body { color: red }\n" {
		t.Fatalf("GET app.css: %d %q", w.Code, w.Body.String())
	}
	h := w.Result().Header
	if got := h.Get("Content-Type"); got != "text/css; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := h.Get("Cache-Control"); got != "public, max-age=3600" {
		t.Errorf("Cache-Control %q", got)
	}
	etag, lastMod := h.Get("Etag"), h.Get("Last-Modified")
	if !strings.HasPrefix(etag, `"`) || lastMod == "" {
		t.Fatalf("want a strong ETag and Last-Modified, got %q %q", etag, lastMod)
	}
	if h.Get("Content-Encoding") != "" || h.Get("Vary") != "" {
		t.Errorf("no Accept-Encoding: got Content-Encoding %q Vary %q", h.Get("Content-Encoding"), h.Get("Vary"))
	}

	if w := rig.do("GET", "/static/app.css", "If-None-Match", etag); w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d %q", w.Code, w.Body.String())
	}
	if w := rig.do("GET", "/static/app.css", "If-Modified-Since", lastMod); w.Code != 304 {
		t.Errorf("If-Modified-Since: %d", w.Code)
	}
	if w := rig.do("GET", "/static/app.css", "If-None-Match", `"other"`); w.Code != 200 {
		t.Errorf("If-None-Match other: %d", w.Code)
	}
	if w := rig.do("HEAD", "/static/app.css"); w.Code != 200 || w.Body.Len() != 0 || w.Result().Header.Get("Content-Length") != "20" {
		t.Errorf("HEAD: %d body %q Content-Length %q", w.Code, w.Body.String(), w.Result().Header.Get("Content-Length"))
	}
	if len(rig.passed) != 0 {
		t.Errorf("static requests reached the app: %v", rig.passed)
	}
}

func TestStaticRanges(t *testing.T) {
	fx := newStaticFixture(t)
	rig := newStaticRig(t, staticConfig("/s/="+fx.dir))

	w := rig.do("GET", "/s/digits.txt", "Range", "bytes=2-5")
	if w.Code != 206 || w.Body.String() != "2345" || w.Result().Header.Get("Content-Range") != "bytes 2-5/10" {
		t.Errorf("Range 2-5: %d %q %q", w.Code, w.Body.String(), w.Result().Header.Get("Content-Range"))
	}
	w = rig.do("GET", "/s/digits.txt", "Range", "bytes=-3")
	if w.Code != 206 || w.Body.String() != "789" {
		t.Errorf("Range -3: %d %q", w.Code, w.Body.String())
	}
	w = rig.do("GET", "/s/digits.txt", "Range", "bytes=10-20")
	if w.Code != 416 || w.Result().Header.Get("Content-Range") != "bytes */10" {
		t.Errorf("Range past the end: %d %q", w.Code, w.Result().Header.Get("Content-Range"))
	}
	etag := rig.do("GET", "/s/digits.txt").Result().Header.Get("Etag")
	if w := rig.do("GET", "/s/digits.txt", "Range", "bytes=0-0", "If-Range", etag); w.Code != 206 || w.Body.String() != "0" {
		t.Errorf("If-Range with the ETag: %d %q", w.Code, w.Body.String())
	}
	if w := rig.do("GET", "/s/digits.txt", "Range", "bytes=0-0", "If-Range", `"stale"`); w.Code != 200 || w.Body.String() != "0123456789" {
		t.Errorf("If-Range stale: %d %q", w.Code, w.Body.String())
	}
}

func TestStaticPrecompressed(t *testing.T) {
	fx := newStaticFixture(t)
	rig := newStaticRig(t, staticConfig("/static/="+fx.dir))
	plainTag := rig.do("GET", "/static/app.css").Result().Header.Get("Etag")
	cases := []struct {
		target, accept   string
		encoding, body   string
		contentType      string
		wantVaryAccepted bool
	}{
		{"/static/app.css", "gzip, deflate, br", "br", "BR-BYTES", "text/css; charset=utf-8", true},
		{"/static/app.css", "gzip", "gzip", "GZIP-BYTES", "text/css; charset=utf-8", true},
		{"/static/app.css", "br;q=0, gzip;q=0.5", "gzip", "GZIP-BYTES", "text/css; charset=utf-8", true},
		{"/static/app.css", "x-gzip", "gzip", "GZIP-BYTES", "text/css; charset=utf-8", true},
		{"/static/app.css", "*", "br", "BR-BYTES", "text/css; charset=utf-8", true},
		{"/static/app.css", "br;q=0,gzip;q=0", "", "body { color: red }\n", "text/css; charset=utf-8", false},
		{"/static/app.css", "identity", "", "body { color: red }\n", "text/css; charset=utf-8", false},
		{"/static/only-gz.js", "br, gzip", "gzip", "GZ-ONLY", "text/javascript; charset=utf-8", true},
		{"/static/only-gz.js", "br", "", "console.log(1)\n", "text/javascript; charset=utf-8", false},
	}
	for _, c := range cases {
		w := rig.do("GET", c.target, "Accept-Encoding", c.accept)
		h := w.Result().Header
		if w.Code != 200 || w.Body.String() != c.body || h.Get("Content-Encoding") != c.encoding || h.Get("Content-Type") != c.contentType {
			t.Errorf("%s with %q: %d %q encoding %q type %q; want %q %q %q", c.target, c.accept, w.Code, w.Body.String(), h.Get("Content-Encoding"), h.Get("Content-Type"), c.body, c.encoding, c.contentType)
		}
		if got := h.Get("Vary") == "Accept-Encoding"; got != c.wantVaryAccepted {
			t.Errorf("%s with %q: Vary %q", c.target, c.accept, h.Get("Vary"))
		}
		if c.encoding != "" && h.Get("Etag") == plainTag {
			t.Errorf("%s with %q: the %s sibling shares the plain ETag %s", c.target, c.accept, c.encoding, plainTag)
		}
	}
	// The gzip sibling's own validator gives it its 304.
	gzTag := rig.do("GET", "/static/app.css", "Accept-Encoding", "gzip").Result().Header.Get("Etag")
	if w := rig.do("GET", "/static/app.css", "Accept-Encoding", "gzip", "If-None-Match", gzTag); w.Code != 304 {
		t.Errorf("If-None-Match with the gzip ETag: %d", w.Code)
	}
}

func TestStaticContentTypes(t *testing.T) {
	fx := newStaticFixture(t)
	rig := newStaticRig(t, staticConfig("/static/="+fx.dir))
	for target, want := range map[string]string{
		"/static/sub/deep.svg": "image/svg+xml",
		"/static/font.woff2":   "font/woff2",
		"/static/digits.txt":   "text/plain; charset=utf-8",
		"/static/noext":        "application/octet-stream",
	} {
		w := rig.do("GET", target)
		if w.Code != 200 || w.Result().Header.Get("Content-Type") != want {
			t.Errorf("%s: %d %q, want %q", target, w.Code, w.Result().Header.Get("Content-Type"), want)
		}
	}
}

func TestStaticRefusesPathsOutOfDir(t *testing.T) {
	fx := newStaticFixture(t)
	rig := newStaticRig(t, staticConfig("/static/="+fx.dir))
	for _, target := range []string{
		"/static/../secret.txt",
		"/static/sub/../../secret.txt",
		"/static/%2e%2e/secret.txt",
		"/static/%2E%2E/secret.txt",
		"/static/..%2fsecret.txt",
		"/static/sub%2f..%2f..%2fsecret.txt",
		"/static/sub%2fdeep.svg", // an encoded slash is never a file name
		"/static/..%5csecret.txt",
		`/static/..\secret.txt`,
		"/static/sub%5cdeep.svg",
		"/static/digits.txt%00.css",
		"/static/./digits.txt",
		"/static/out.txt",           // symlink to a file outside
		"/static/outdir/secret.txt", // symlink to a directory outside
		"/static/",                  // the directory itself: no listing
		"/static",
		"/static/sub",
		"/static/sub/",
		"/static/missing.css",
		"/static/fifo.css",                    // not a regular file; must not block either
		"/static/" + fx.secret,                // "//tmp/...": an absolute path after the prefix
		"/static/" + strings.Repeat("a", 300), // ENAMETOOLONG
		"/static/.env",                        // dotfiles and dot-directories
		"/static/.git/config",
		"/static/sub/.htpasswd",
		"/static/%2eenv",
	} {
		w := rig.do("GET", target)
		if w.Code != 404 || strings.Contains(w.Body.String(), "SECRET") {
			t.Errorf("GET %s: %d %q, want 404", target, w.Code, w.Body.String())
		}
	}
	if w := rig.do("GET", "/static/.well-known/security.txt"); w.Code != 200 {
		t.Errorf("RFC 8615's .well-known: %d %q, want it served", w.Code, w.Body.String())
	}
	if w := rig.do("GET", "/static/in.txt"); w.Code != 200 || w.Body.String() != "0123456789" {
		t.Errorf("a symlink inside DIR: %d %q", w.Code, w.Body.String())
	}
	if w := rig.do("GET", "/static/sub//deep.svg"); w.Code != 200 && w.Code != 404 {
		t.Errorf("an empty segment: %d", w.Code)
	}
	if len(rig.passed) != 0 {
		t.Errorf("static requests reached the app: %v", rig.passed)
	}
}

func TestStaticFollowSymlinks(t *testing.T) {
	fx := newStaticFixture(t)
	cfg := staticConfig("/static/=" + fx.dir)
	cfg.StaticFollowSymlinks = true
	rig := newStaticRig(t, cfg)
	if w := rig.do("GET", "/static/out.txt"); w.Code != 200 || w.Body.String() != "SECRET" {
		t.Errorf("out.txt with follow-symlinks: %d %q", w.Code, w.Body.String())
	}
	if w := rig.do("GET", "/static/outdir/secret.txt"); w.Code != 200 {
		t.Errorf("outdir/secret.txt with follow-symlinks: %d", w.Code)
	}
	// Following symlinks never lets ".." or an absolute path through.
	for _, target := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/" + fx.secret} {
		if w := rig.do("GET", target); w.Code != 404 {
			t.Errorf("%s with follow-symlinks: %d", target, w.Code)
		}
	}
}

func TestStaticMethodsAndPassThrough(t *testing.T) {
	fx := newStaticFixture(t)
	rig := newStaticRig(t, staticConfig("/static/="+fx.dir, "/static/deep/="+filepath.Join(fx.dir, "sub")))
	for _, method := range []string{"POST", "PUT", "DELETE", "OPTIONS"} {
		w := rig.do(method, "/static/app.css")
		if w.Code != 405 || w.Result().Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", method, w.Code, w.Result().Header.Get("Allow"))
		}
	}
	// The longer prefix wins.
	if w := rig.do("GET", "/static/deep/deep.svg"); w.Code != 200 || w.Body.String() != "<svg/>" {
		t.Errorf("longest prefix: %d %q", w.Code, w.Body.String())
	}
	for _, target := range []string{"/", "/staticfoo/app.css", "/app/static/app.css", "/STATIC/app.css"} {
		if w := rig.do("GET", target); w.Code != 200 || w.Body.String() != "python" {
			t.Errorf("%s did not go to the app: %d %q", target, w.Code, w.Body.String())
		}
	}
	if want := []string{"/", "/staticfoo/app.css", "/app/static/app.css", "/STATIC/app.css"}; !slices.Equal(rig.passed, want) {
		t.Errorf("the app got %v, want %v", rig.passed, want)
	}
}

func TestStaticConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"static=" + dir:           `must start with "/"`,
		"/static/":                "want URL_PREFIX=DIR",
		"=" + dir:                 "want URL_PREFIX=DIR",
		"/static/=":               "want URL_PREFIX=DIR",
		"/static/=" + dir + "/no": "no such file or directory",
		"/static/=" + file:        "is not a directory",
		"/a/../b/=" + dir:         `"." or ".."`,
	} {
		cfg := staticConfig(spec)
		cfg.App = "x:y"
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--static %q: error %v, want %q", spec, err, want)
		}
	}
	cfg := staticConfig("/s/="+dir, "/s="+dir)
	cfg.App = "x:y"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("a repeated prefix: %v", err)
	}
	cfg = staticConfig("/s/=" + dir)
	cfg.App, cfg.StaticMaxAge = "x:y", -time.Second
	if err := cfg.Validate(); err == nil {
		t.Errorf("a negative --static-max-age passed")
	}
}
