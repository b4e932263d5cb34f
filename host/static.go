package host

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Static files (--static URL_PREFIX=DIR): requests under a prefix are
// answered by Go from DIR and never reach Python. net/http's ServeContent
// does the conditional and Range logic; this file decides which file, if
// any, a URL names, and refuses anything that would leave DIR.

// staticSpec is one parsed --static flag.
type staticSpec struct {
	prefix string // URL prefix, always ending in "/"
	dir    string // absolute directory
}

// staticSpecs parses and checks the --static flags: the prefix must start
// with "/", DIR must be an existing directory (relative to the directory
// gowsgi was started in, not --chdir), and no prefix may repeat.
func (c *Config) staticSpecs() ([]staticSpec, error) {
	specs := make([]staticSpec, 0, len(c.Static))
	for _, text := range c.Static {
		prefix, dir, ok := strings.Cut(text, "=")
		if !ok || prefix == "" || dir == "" {
			return nil, fmt.Errorf("--static %q: want URL_PREFIX=DIR, e.g. /static/=./staticfiles", text)
		}
		if !strings.HasPrefix(prefix, "/") {
			return nil, fmt.Errorf("--static %q: the URL prefix must start with \"/\"", text)
		}
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if bad, _ := badStaticPath(prefix); bad {
			return nil, fmt.Errorf("--static %q: the URL prefix may not contain \".\" or \"..\" segments, backslashes or NUL", text)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("--static %q: %w", text, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("--static %q: %w", text, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--static %q: %s is not a directory", text, abs)
		}
		if slices.ContainsFunc(specs, func(s staticSpec) bool { return s.prefix == prefix }) {
			return nil, fmt.Errorf("--static %q: the prefix %s is given twice", text, prefix)
		}
		specs = append(specs, staticSpec{prefix: prefix, dir: abs})
	}
	if c.StaticMaxAge < 0 {
		return nil, fmt.Errorf("--static-max-age %s: must not be negative", c.StaticMaxAge)
	}
	return specs, nil
}

// staticMount is one open --static directory.
type staticMount struct {
	staticSpec
	// root confines every open to dir: os.Root refuses ".." and symlinks
	// that resolve outside it, race-free (openat with O_NOFOLLOW per
	// component). nil with --static-follow-symlinks.
	root *os.Root
}

// staticMounts are the open directories, longest prefix first.
type staticMounts []staticMount

// openStaticMounts opens the --static directories. It runs before --chdir,
// so relative directories are relative to where gowsgi was started.
func openStaticMounts(c *Config) (staticMounts, error) {
	specs, err := c.staticSpecs()
	if err != nil {
		return nil, err
	}
	var mounts staticMounts
	for _, s := range specs {
		m := staticMount{staticSpec: s}
		if !c.StaticFollowSymlinks {
			if m.root, err = os.OpenRoot(s.dir); err != nil {
				mounts.close()
				return nil, fmt.Errorf("--static %s: %w", s.prefix, err)
			}
		}
		mounts = append(mounts, m)
	}
	slices.SortStableFunc(mounts, func(a, b staticMount) int { return len(b.prefix) - len(a.prefix) })
	return mounts, nil
}

func (ms staticMounts) close() {
	for _, m := range ms {
		if m.root != nil {
			_ = m.root.Close()
		}
	}
}

// match returns the mount whose prefix urlPath is under, and the rest of
// the path after the prefix ("" for the prefix itself, with or without
// its slash).
func (ms staticMounts) match(urlPath string) (*staticMount, string, bool) {
	for i := range ms {
		m := &ms[i]
		if rest, ok := strings.CutPrefix(urlPath, m.prefix); ok {
			return m, rest, true
		}
		if urlPath == m.prefix[:len(m.prefix)-1] {
			return m, "", true
		}
	}
	return nil, "", false
}

// open opens the file name (slash-separated, relative, already checked by
// badStaticPath) under the mount.
// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
// writer; reads of regular files ignore the flag.
func (m *staticMount) open(name string) (*os.File, error) {
	const flags = os.O_RDONLY | syscall.O_NONBLOCK
	if m.root != nil {
		return m.root.OpenFile(filepath.FromSlash(name), flags, 0)
	}
	return os.OpenFile(filepath.Join(m.dir, filepath.FromSlash(name)), flags, 0)
}

// badStaticPath reports whether a decoded URL path may not name a static
// file: a NUL, a backslash (a separator elsewhere), or a "." or ".."
// segment. It also returns whether the path ends in "/" (a directory).
func badStaticPath(p string) (bad, dirLike bool) {
	if strings.ContainsAny(p, "\x00\\") {
		return true, false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true, false
		}
	}
	return false, strings.HasSuffix(p, "/")
}

// hiddenStaticPath reports whether a path under a mount names a dotfile or
// goes through a dot-directory (.env, .git/config, .htpasswd): a DIR that
// is a checkout, or a build that left one, must not publish them. Only
// RFC 8615's /.well-known/ (ACME challenges, security.txt) is served.
func hiddenStaticPath(rest string) bool {
	for seg := range strings.SplitSeq(rest, "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			return true
		}
	}
	return false
}

// encodedSeparator reports whether the raw request target encodes a
// slash, a backslash or a NUL (%2f, %5c, %00): a file name never needs
// them, and they are how traversal hides from naive checks.
func encodedSeparator(requestURI string) bool {
	target, _, _ := strings.Cut(requestURI, "?")
	for i := 0; i+2 < len(target); i++ {
		if target[i] != '%' {
			continue
		}
		switch strings.ToLower(target[i+1 : i+3]) {
		case "2f", "5c", "00":
			return true
		}
	}
	return false
}

// staticHandler answers requests under a --static prefix from disk and
// passes every other request to next (the Python handler).
type staticHandler struct {
	mounts       staticMounts
	next         http.Handler
	cacheControl string // "" when --static-max-age is 0
	limits       requestLimits
	writeTimeout time.Duration
	access       *accessLog
	log          *Logger
}

func newStaticHandler(cfg Config, mounts staticMounts, next http.Handler, access *accessLog, logger *Logger) http.Handler {
	if len(mounts) == 0 {
		return next
	}
	s := &staticHandler{
		mounts:       mounts,
		next:         next,
		limits:       cfg.requestLimits(),
		writeTimeout: cfg.WriteTimeout,
		access:       access,
		log:          logger,
	}
	if cfg.StaticMaxAge > 0 {
		s.cacheControl = "public, max-age=" + strconv.FormatInt(int64(cfg.StaticMaxAge/time.Second), 10)
	}
	return s
}

func (s *staticHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, rest, ok := s.mounts.match(r.URL.Path)
	if !ok {
		s.next.ServeHTTP(w, r)
		return
	}
	var start time.Time
	if s.access != nil {
		start = time.Now()
	}
	sw := &staticWriter{ResponseWriter: w, timeout: s.writeTimeout}
	s.serve(sw, r, m, rest)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	if s.access != nil {
		s.access.record(&accessEntry{
			r: r, status: sw.status, size: sw.written, start: start,
			duration: time.Since(start), respHeader: sw.Header(),
		})
	}
}

func (s *staticHandler) serve(w *staticWriter, r *http.Request, m *staticMount, rest string) {
	if status := s.limits.check(r); status != 0 {
		s.log.Warningf("%s %.100s: %d %s (--limit-request-*)", r.Method, r.RequestURI, status, http.StatusText(status))
		writeStatus(w, status, true)
		return
	}
	if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0) {
		// As for Python requests (handler.go): an unread chunked body must
		// not be read as a second request.
		w.Header().Set("Connection", "close")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// Allow (RFC 9110 §15.5.6) would be cleared by writeStatus.
		text := http.StatusText(http.StatusMethodNotAllowed)
		hdr := w.Header()
		hdr.Set("Allow", "GET, HEAD")
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("Content-Length", strconv.Itoa(len(text)))
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, text)
		return
	}
	if bad, dirLike := badStaticPath(rest); bad || dirLike || rest == "" || hiddenStaticPath(rest) || encodedSeparator(r.RequestURI) {
		writeStatus(w, http.StatusNotFound, false)
		return
	}
	f, st, err := openRegular(m, rest)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errNotRegular) {
			// A symlink out of DIR, a permission: worth a line, not a 500.
			s.log.Debugf("static %s: %v", r.URL.EscapedPath(), err)
		}
		writeStatus(w, http.StatusNotFound, false)
		return
	}
	defer func() { f.Close() }() // f may become the sibling below

	hdr := w.Header()
	hdr.Set("Content-Type", staticContentType(rest))
	if s.cacheControl != "" {
		hdr.Set("Cache-Control", s.cacheControl)
	}
	suffix := ""
	codings, exts := acceptedPrecompressed(r.Header.Values("Accept-Encoding"))
	for i, coding := range codings {
		// The first sibling the client accepts (br before gzip) wins.
		cf, cst, err := openRegular(m, rest+exts[i])
		if err != nil {
			continue
		}
		f.Close()
		f, st, suffix = cf, cst, "-"+exts[i][1:]
		hdr.Set("Content-Encoding", coding)
		hdr.Add("Vary", "Accept-Encoding")
		break
	}
	// A strong validator from size and mtime (as nginx makes it): strong so
	// that If-Range works; each encoding has its own.
	hdr.Set("Etag", `"`+strconv.FormatInt(st.ModTime().UnixNano(), 16)+"-"+strconv.FormatInt(st.Size(), 16)+suffix+`"`)
	http.ServeContent(w, r, "", st.ModTime(), f)
}

var errNotRegular = errors.New("not a regular file")

// openRegular opens name under m and returns it only if it is a regular
// file: directories (no listings), devices and pipes are refused.
func openRegular(m *staticMount, name string) (*os.File, fs.FileInfo, error) {
	f, err := m.open(name)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular
	}
	return f, st, nil
}

// acceptedPrecompressed lists the precompressed codings the client's
// Accept-Encoding allows (q > 0), best first, with their file suffixes.
func acceptedPrecompressed(acceptEncoding []string) (codings, suffixes []string) {
	if len(acceptEncoding) == 0 {
		return nil, nil
	}
	q := map[string]float64{}
	for _, line := range acceptEncoding {
		for item := range strings.SplitSeq(line, ",") {
			name, params, _ := strings.Cut(item, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			weight := 1.0
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						weight = f
					}
				}
			}
			q[name] = weight
		}
	}
	for _, c := range [...]struct{ coding, suffix string }{{"br", ".br"}, {"gzip", ".gz"}} {
		w, ok := q[c.coding]
		if !ok {
			if c.coding == "gzip" {
				w, ok = q["x-gzip"]
			}
			if !ok {
				w, ok = q["*"]
			}
		}
		if ok && w > 0 {
			codings = append(codings, c.coding)
			suffixes = append(suffixes, c.suffix)
		}
	}
	return codings, suffixes
}

// staticTypes are the types of what a static directory commonly holds,
// fixed here: Go's mime package lets the host's /etc/mime.types override
// its own table (some give .js as application/javascript), and lacks fonts.
var staticTypes = map[string]string{
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".json":        "application/json",
	".xml":         "text/xml; charset=utf-8",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".wasm":        "application/wasm",
	".pdf":         "application/pdf",
	".woff2":       "font/woff2",
	".woff":        "font/woff",
	".ttf":         "font/ttf",
	".otf":         "font/otf",
	".eot":         "application/vnd.ms-fontobject",
	".ico":         "image/vnd.microsoft.icon",
	".map":         "application/json",
	".txt":         "text/plain; charset=utf-8",
	".webmanifest": "application/manifest+json",
	".mp4":         "video/mp4",
	".webm":        "video/webm",
	".mp3":         "audio/mpeg",
	".csv":         "text/csv; charset=utf-8",
}

// staticContentType is the type of the file name; a precompressed sibling
// is sent with its original's type.
func staticContentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := staticTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// staticWriter records the status and size for the access log and keeps
// sendfile(2) (net/http's ReadFrom) while pushing the write deadline
// forward every writePiece, so a slow reader of a large file is
// given time per chunk, not per file, and a stalled one is cut.
type staticWriter struct {
	http.ResponseWriter
	status  int
	written int64
	timeout time.Duration
}

func (s *staticWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *staticWriter) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	s.arm()
	n, err := s.ResponseWriter.Write(p)
	s.written += int64(n)
	return n, err
}

func (s *staticWriter) arm() {
	if s.timeout <= 0 {
		return
	}
	if d, ok := s.ResponseWriter.(deadliner); ok {
		_ = d.SetWriteDeadline(time.Now().Add(s.timeout))
	}
}

// ReadFrom sends src (ServeContent's io.LimitedReader over the *os.File)
// in chunks, each one a net/http ReadFrom that ends in sendfile(2). The
// chunk is a single LimitedReader directly over the file: the kernel path
// is only taken for that shape.
func (s *staticWriter) ReadFrom(src io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	rf, ok := s.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(struct{ io.Writer }{s}, src)
	}
	var file io.Reader
	remaining := int64(-1) // unknown: until EOF
	switch v := src.(type) {
	case *io.LimitedReader:
		file, remaining = v.R, v.N
		defer func() { v.N = remaining }()
	case *os.File:
		file = v
	default:
		s.arm()
		n, err := rf.ReadFrom(src)
		s.written += n
		return n, err
	}
	var total int64
	for remaining != 0 {
		chunk := int64(writePiece)
		if remaining > 0 {
			chunk = min(chunk, remaining)
		}
		s.arm()
		n, err := rf.ReadFrom(&io.LimitedReader{R: file, N: chunk})
		total += n
		s.written += n
		if remaining > 0 {
			remaining -= n
		}
		if err != nil || n < chunk {
			return total, err
		}
	}
	return total, nil
}
