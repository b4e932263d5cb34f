package host

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAccessLogFormat is gunicorn's default --access-logformat.
const DefaultAccessLogFormat = `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`

// accessLog writes one line per request: in --access-logformat (gunicorn's
// atoms) as text, or one JSON object a line with --log-format json. It is
// reopened on SIGUSR1 for logrotate. A nil *accessLog logs nothing.
type accessLog struct {
	mu     sync.Mutex
	out    io.Writer
	f      *os.File // nil for stdout
	path   string   // "" for stdout
	format []accessAtom
	json   bool
	pid    int
	buf    []byte
	// requestIDHeader (canonical) reads as the request's id in
	// %({name}i)s, also when gowsgi made the id.
	requestIDHeader string
}

// accessEntry is what one access log line is made of.
type accessEntry struct {
	r          *http.Request
	status     int
	size       int64 // response body bytes
	start      time.Time
	duration   time.Duration
	requestID  string
	respHeader http.Header // nil when the app's headers were replaced
}

// accessAtom is one piece of a parsed format: literal text, or a gunicorn
// atom (name, with arg the header name of {NAME}i / {NAME}o).
type accessAtom struct {
	literal string
	name    byte // 0 for a literal
	arg     string
}

// parseAccessLogFormat reads gunicorn's %(atom)s syntax: %(h)s, %(t)s,
// %({header}i)s, %({header}o)s and so on; %% is a percent sign.
func parseAccessLogFormat(format string) ([]accessAtom, error) {
	var atoms []accessAtom
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			atoms = append(atoms, accessAtom{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(format) || format[i+1] != '(' {
			return nil, fmt.Errorf("--access-logformat %q: %% at offset %d is not %%(atom)s or %%%%", format, i)
		}
		end := strings.IndexByte(format[i+2:], ')')
		if end < 0 || i+2+end+1 >= len(format) {
			return nil, fmt.Errorf("--access-logformat %q: unterminated %%( at offset %d", format, i)
		}
		key := format[i+2 : i+2+end]
		i = i + 2 + end + 1 // the conversion letter (s, d, ...): every atom is text
		flush()
		switch {
		case len(key) > 3 && key[0] == '{' && key[len(key)-2] == '}':
			atoms = append(atoms, accessAtom{name: key[len(key)-1], arg: http.CanonicalHeaderKey(key[1 : len(key)-2])})
		case len(key) == 1:
			atoms = append(atoms, accessAtom{name: key[0]})
		default:
			atoms = append(atoms, accessAtom{name: '?'}) // unknown: "-", as gunicorn
		}
	}
	flush()
	return atoms, nil
}

func openAccessLog(path, format string, json bool, requestIDHeader string) (*accessLog, error) {
	if path == "" {
		return nil, nil
	}
	atoms, err := parseAccessLogFormat(format)
	if err != nil {
		return nil, err
	}
	a := &accessLog{format: atoms, json: json, pid: os.Getpid(), requestIDHeader: http.CanonicalHeaderKey(requestIDHeader)}
	if path == "-" {
		a.out = os.Stdout
		return a, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	a.out, a.f, a.path = f, f, path
	return a, nil
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
	old := a.f
	a.out, a.f = f, f
	a.mu.Unlock()
	return old.Close()
}

func (a *accessLog) record(e *accessEntry) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.json {
		a.buf = a.appendJSON(a.buf[:0], e)
	} else {
		a.buf = a.appendText(a.buf[:0], e)
	}
	_, _ = a.out.Write(a.buf)
}

func (a *accessLog) appendText(b []byte, e *accessEntry) []byte {
	for _, atom := range a.format {
		if atom.name == 0 {
			b = append(b, atom.literal...)
			continue
		}
		b = a.appendAtom(b, atom, e)
	}
	return append(b, '\n')
}

// appendAtom writes one gunicorn atom (gunicorn/glogging.py's atoms).
func (a *accessLog) appendAtom(b []byte, atom accessAtom, e *accessEntry) []byte {
	r := e.r
	switch atom.name {
	case 'h':
		return append(b, remoteHost(r)...)
	case 'l':
		return append(b, '-')
	case 'u':
		return appendLogText(b, remoteUser(r))
	case 't':
		b = append(b, '[')
		b = e.start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
		return append(b, ']')
	case 'r':
		b = appendLogText(b, r.Method)
		b = append(b, ' ')
		b = appendLogText(b, r.RequestURI)
		b = append(b, ' ')
		return appendLogText(b, r.Proto)
	case 'm':
		return appendLogText(b, r.Method)
	case 'U':
		return appendLogText(b, r.URL.Path)
	case 'q':
		return appendLogText(b, r.URL.RawQuery)
	case 'H':
		return appendLogText(b, r.Proto)
	case 's':
		return strconv.AppendInt(b, int64(e.status), 10)
	case 'B':
		return strconv.AppendInt(b, e.size, 10)
	case 'b':
		if e.size <= 0 {
			return append(b, '-')
		}
		return strconv.AppendInt(b, e.size, 10)
	case 'f':
		return appendLogText(b, orDash(r.Referer()))
	case 'a':
		return appendLogText(b, orDash(r.UserAgent()))
	case 'T':
		return strconv.AppendInt(b, int64(e.duration/time.Second), 10)
	case 'M':
		return strconv.AppendInt(b, e.duration.Milliseconds(), 10)
	case 'D':
		return strconv.AppendInt(b, e.duration.Microseconds(), 10)
	case 'L':
		// Seconds with the microseconds truncated, as gunicorn writes them
		// ("%d.%06d"), so that L and D always agree; rounding could put L
		// a microsecond above D.
		us := e.duration.Microseconds()
		b = strconv.AppendInt(b, us/1_000_000, 10)
		b = append(b, '.')
		frac := us % 1_000_000
		for place := int64(100_000); place > frac && place > 1; place /= 10 {
			b = append(b, '0') // the zeros before frac's digits, six in all
		}
		return strconv.AppendInt(b, frac, 10)
	case 'p':
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(a.pid), 10)
		return append(b, '>')
	case 'i':
		return appendLogText(b, orDash(a.requestHeader(e, atom.arg)))
	case 'o':
		if e.respHeader == nil {
			return append(b, '-')
		}
		return appendLogText(b, orDash(e.respHeader.Get(atom.arg)))
	}
	return append(b, '-')
}

// requestHeader reads a request header for %({name}i)s. The request id
// header gives the request's id, the one the app and the JSON log see:
// gowsgi's own when it made one (the client's was missing or refused).
func (a *accessLog) requestHeader(e *accessEntry, name string) string {
	if e.requestID != "" && name == a.requestIDHeader {
		return e.requestID
	}
	return e.r.Header.Get(name)
}

// maxLoggedField bounds one field that a client wrote (the request line,
// a header) in an access log line. A request refused with 414 or 431 has
// a line or header over the limits, up to the 1 MB head net/http reads,
// and a client must not grow the log by a megabyte a request.
const maxLoggedField = 8 << 10

// boundedField is s, or its first maxLoggedField bytes and a mark of how
// many were cut.
func boundedField(s string) string { return cutForLog(s, maxLoggedField) }

// cutForLog is s, or its first max bytes and "...[+N bytes]".
func cutForLog(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "...[+" + strconv.Itoa(len(s)-max) + " bytes]"
}

// appendLogText appends s to a text log line with the bytes that could
// forge a line or a field escaped as \xNN, as nginx's escape=default does:
// control characters (a decoded %0a in the path, a newline in a Basic-auth
// user name), DEL, the double quote that delimits fields, and the
// backslash. Other bytes, UTF-8 included, are kept.
// A field longer than maxLoggedField is cut there (see boundedField).
func appendLogText(b []byte, s string) []byte {
	s = boundedField(s)
	const hex = "0123456789ABCDEF"
	kept := 0 // s[kept:i] has nothing to escape
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			b = append(b, s[kept:i]...)
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
			kept = i + 1
		}
	}
	return append(b, s[kept:]...)
}

func (a *accessLog) appendJSON(b []byte, e *accessEntry) []byte {
	r := e.r
	b = append(b, `{"time":`...)
	b = appendJSONString(b, e.start.Format(time.RFC3339Nano))
	b = append(b, `,"remote_addr":`...)
	b = appendJSONString(b, remoteHost(r))
	b = append(b, `,"user":`...)
	b = appendJSONString(b, boundedField(remoteUser(r)))
	b = append(b, `,"request_id":`...)
	b = appendJSONString(b, e.requestID)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, boundedField(r.Method))
	b = append(b, `,"uri":`...)
	b = appendJSONString(b, boundedField(r.RequestURI))
	b = append(b, `,"protocol":`...)
	b = appendJSONString(b, boundedField(r.Proto))
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, max(e.size, 0), 10)
	b = append(b, `,"referer":`...)
	b = appendJSONString(b, boundedField(r.Referer()))
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, boundedField(r.UserAgent()))
	b = append(b, `,"duration_us":`...)
	b = strconv.AppendInt(b, e.duration.Microseconds(), 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(a.pid), 10)
	return append(b, "}\n"...)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return orDash(host)
}

func remoteUser(r *http.Request) string {
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return u
	}
	return "-"
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
	if a.f != nil {
		_ = a.f.Close()
	}
}
