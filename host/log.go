package host

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
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

// Logger writes the error log in gunicorn's layout:
// "[2006-01-02 15:04:05 +0000] [PID] [LEVEL] message". A multi-line message
// (a traceback) stays one record: its lines follow the first.
type Logger struct {
	mu    sync.Mutex
	out   io.Writer
	level Level
	pid   int
	color bool // level names in ANSI colours (a terminal, no NO_COLOR)
}

// NewLogger logs records at level and above to out.
func NewLogger(out io.Writer, level Level) *Logger {
	return &Logger{out: out, level: level, pid: os.Getpid(), color: colorEnabled(out)}
}

func (l *Logger) log(level Level, format string, args ...any) {
	if level < l.level {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	msg = strings.TrimRight(msg, "\n")
	stamp := time.Now().Format("2006-01-02 15:04:05 -0700")
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "[%s] [%d] [%s] %s\n", stamp, l.pid, paint(l.color, levelColors[level], levelNames[level]), msg)
}

func (l *Logger) Debugf(format string, args ...any)   { l.log(LevelDebug, format, args...) }
func (l *Logger) Infof(format string, args ...any)    { l.log(LevelInfo, format, args...) }
func (l *Logger) Warningf(format string, args ...any) { l.log(LevelWarning, format, args...) }
func (l *Logger) Errorf(format string, args ...any)   { l.log(LevelError, format, args...) }
