package host

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Level orders log records; names follow gunicorn's --log-level.
type Level int

const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarning
	LevelError
	LevelCritical
)

var levelNames = []string{"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}

// levelColors paint the level names on a terminal (banner.go).
var levelColors = []string{ansiBlue, ansiGreen, ansiYellow, ansiRed, ansiBold + ansiRed}

func parseLevel(s string) (Level, error) {
	for i, name := range levelNames {
		if strings.EqualFold(s, name) || (strings.EqualFold(s, "warn") && name == "WARNING") {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("--log-level %q: want one of debug, info, warning, error, critical", s)
}

// Logger writes the error log. As text, in gunicorn's layout:
// "[2006-01-02 15:04:05 +0000] [PID] [LEVEL] message", where a multi-line
// message (a traceback) stays one record: its lines follow the first. As
// JSON (--log-format json), one object a line: time, level, pid, message,
// and for a request's records request_id and traceback.
type Logger struct {
	mu    sync.Mutex
	out   io.Writer
	file  *os.File // the --error-logfile, nil for stderr or a given writer
	path  string
	level Level
	pid   int
	color bool // level names in ANSI colours (a terminal, no NO_COLOR)
	json  bool
	buf   []byte
}

// NewLogger logs text records at level and above to out.
func NewLogger(out io.Writer, level Level) *Logger {
	return &Logger{out: out, level: level, pid: os.Getpid(), color: colorEnabled(out)}
}

// openErrorLog opens --error-logfile: "" or "-" is stderr, else a file
// opened for appending (reopened on SIGUSR1).
func openErrorLog(path string, level Level, json bool) (*Logger, error) {
	l := NewLogger(os.Stderr, level)
	l.json = json
	l.color = l.color && !json
	if path == "" || path == "-" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open --error-logfile %s: %w", path, err)
	}
	l.out, l.file, l.path, l.color = f, f, path, false
	return l, nil
}

// reopen closes and reopens the error log file, for logrotate (SIGUSR1).
func (l *Logger) reopen() error {
	if l.file == nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("reopen --error-logfile %s: %w", l.path, err)
	}
	l.mu.Lock()
	old := l.file
	l.out, l.file = f, f
	l.mu.Unlock()
	return old.Close()
}

func (l *Logger) log(level Level, format string, args ...any) {
	if level < l.level {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	l.write(level, msg, "", "")
}

// requestf logs a record about one request: its request id goes with it
// and a traceback (possibly "") stays part of the one record.
func (l *Logger) requestf(level Level, requestID, traceback, format string, args ...any) {
	if level < l.level {
		return
	}
	l.write(level, fmt.Sprintf(format, args...), requestID, traceback)
}

func (l *Logger) write(level Level, msg, requestID, traceback string) {
	msg = strings.TrimRight(msg, "\n")
	traceback = strings.TrimRight(traceback, "\n")
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	if l.json {
		b = append(b, `{"time":`...)
		b = appendJSONString(b, now.Format(time.RFC3339Nano))
		b = append(b, `,"level":`...)
		b = appendJSONString(b, levelNames[level])
		b = append(b, `,"pid":`...)
		b = strconv.AppendInt(b, int64(l.pid), 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, msg)
		if requestID != "" {
			b = append(b, `,"request_id":`...)
			b = appendJSONString(b, requestID)
		}
		if traceback != "" {
			b = append(b, `,"traceback":`...)
			b = appendJSONString(b, traceback)
		}
		b = append(b, "}\n"...)
	} else {
		b = append(b, '[')
		b = now.AppendFormat(b, "2006-01-02 15:04:05 -0700")
		b = append(b, "] ["...)
		b = strconv.AppendInt(b, int64(l.pid), 10)
		b = append(b, "] ["...)
		b = append(b, paint(l.color, levelColors[level], levelNames[level])...)
		b = append(b, "] "...)
		b = append(b, msg...)
		if requestID != "" {
			b = append(b, " (request id "...)
			b = append(b, requestID...)
			b = append(b, ')')
		}
		if traceback != "" {
			b = append(b, '\n')
			b = append(b, traceback...)
		}
		b = append(b, '\n')
	}
	_, _ = l.out.Write(b)
	l.buf = b
}

func (l *Logger) Debugf(format string, args ...any)   { l.log(LevelDebug, format, args...) }
func (l *Logger) Infof(format string, args ...any)    { l.log(LevelInfo, format, args...) }
func (l *Logger) Warningf(format string, args ...any) { l.log(LevelWarning, format, args...) }
func (l *Logger) Errorf(format string, args ...any)   { l.log(LevelError, format, args...) }

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, r := range s { // ranging over a string yields U+FFFD for bad bytes
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '0', '0', hex[r>>4&0xf], hex[r&0xf])
			if r > 0xff {
				b = b[:len(b)-4]
				b = append(b, hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
			}
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}
