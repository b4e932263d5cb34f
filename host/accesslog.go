package host

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// accessLog writes one line per request in gunicorn's default format:
// %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"
// A nil *accessLog logs nothing.
type accessLog struct {
	mu   sync.Mutex
	out  *bufio.Writer
	f    io.Closer
	path string // "" for stdout
}

func openAccessLog(path string) (*accessLog, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return &accessLog{out: bufio.NewWriter(os.Stdout)}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return &accessLog{out: bufio.NewWriter(f), f: f, path: path}, nil
}

// reopen closes and reopens the file, for logrotate (SIGUSR1).
func (a *accessLog) reopen() error {
	if a == nil || a.path == "" {
		return nil
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("reopen access log: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.out.Flush()
	_ = a.f.Close()
	a.out, a.f = bufio.NewWriter(f), f
	return nil
}

func (a *accessLog) record(r *http.Request, status int, size int64, start time.Time) {
	if a == nil {
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host == "" {
		host = "-"
	}
	user := "-"
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		user = u
	}
	b := "-"
	if size > 0 {
		b = strconv.FormatInt(size, 10)
	}
	line := fmt.Sprintf("%s - %s [%s] \"%s %s %s\" %d %s %q %q\n",
		host, user, start.Format("02/Jan/2006:15:04:05 -0700"),
		r.Method, r.RequestURI, r.Proto, status, b,
		orDash(r.Referer()), orDash(r.UserAgent()))
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.WriteString(line)
	_ = a.out.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *accessLog) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.out.Flush()
	if a.f != nil {
		_ = a.f.Close()
	}
}
