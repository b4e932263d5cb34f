package host

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/gowsgi/gowsgi/pybridge"
)

// The startup banner: one block on stderr saying what runs where, before
// the "Listening at:" log lines (which stay: scripts parse them).

// colorEnabled says whether out is a terminal that gets ANSI colours:
// never through a pipe or file, and never with NO_COLOR set
// (https://no-color.org).
func colorEnabled(out io.Writer) bool {
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
	ansiCyan   = "\x1b[36m"
)

// paint wraps s in an ANSI colour when on is set.
func paint(on bool, color, s string) string {
	if !on {
		return s
	}
	return color + s + ansiReset
}

// listenURLs are the clickable addresses of the listeners.
func listenURLs(listeners []net.Listener, tls bool) []string {
	urls := make([]string, len(listeners))
	for i, ln := range listeners {
		urls[i] = listenURL(ln, tls)
	}
	return urls
}

// writeBanner writes the block to the logger's output, at info level and
// below only.
func writeBanner(cfg Config, logger *Logger, urls []string, workers int) {
	if logger.level > LevelInfo {
		return
	}
	text := bannerText(cfg, urls, workers, logger.color)
	if logger.json { // one record, so that every line stays one JSON object
		logger.Infof("%s", strings.TrimRight(text, "\n"))
		return
	}
	logger.mu.Lock()
	defer logger.mu.Unlock()
	_, _ = io.WriteString(logger.out, text)
}

func bannerText(cfg Config, urls []string, workers int, color bool) string {
	version := cfg.Version
	if version == "" {
		version = "(unknown version)"
	}
	pyVersion := strings.Fields(pybridge.BuiltVersion() + " ")[0]
	python, venv := pybridge.DefaultProgram(), "none"
	if cfg.Virtualenv != "" {
		abs, err := filepath.Abs(cfg.Virtualenv)
		if err == nil {
			venv, python = abs, filepath.Join(abs, "bin", "python")
		}
	}
	dir := cfg.Chdir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	var b strings.Builder
	label := func(s string) string { return paint(color, ansiBold, fmt.Sprintf("%-9s", s)) }
	fmt.Fprintf(&b, "%s %s\n", paint(color, ansiBold+ansiGreen, "gowsgi"), version)
	fmt.Fprintf(&b, "  %s Python %s (%s)\n", label("python"), pyVersion, python)
	fmt.Fprintf(&b, "  %s %s\n", label("venv"), venv)
	fmt.Fprintf(&b, "  %s %s (in %s)\n", label("app"), cfg.App, dir)
	process := "1 process"
	if workers > 0 {
		process = fmt.Sprintf("%d worker process", workers)
		if workers > 1 {
			process += "es"
		}
	}
	fmt.Fprintf(&b, "  %s %s × %d Python threads\n", label("workers"), process, cfg.Threads)
	if cfg.Reload {
		fmt.Fprintf(&b, "  %s %s\n", label("reload"), paint(color, ansiYellow, "on: restarts on source changes (development only)"))
	}
	for i, u := range urls {
		name := ""
		if i == 0 {
			name = "serving"
		}
		fmt.Fprintf(&b, "  %s %s\n", label(name), paint(color, ansiCyan, u))
	}
	return b.String()
}
