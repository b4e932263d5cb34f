package host

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal end of a new pseudo-terminal.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}

func TestColorOnlyOnATerminalWithoutNoColor(t *testing.T) {
	tty := openPTY(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	t.Setenv("NO_COLOR", "")
	os.Unsetenv("NO_COLOR")
	if !colorEnabled(tty) {
		t.Error("no colour on a terminal")
	}
	if colorEnabled(w) {
		t.Error("colour into a pipe")
	}
	t.Setenv("NO_COLOR", "1")
	if colorEnabled(tty) {
		t.Error("colour with NO_COLOR set")
	}
}

func TestBannerNamesWhatRunsWhere(t *testing.T) {
	cfg := DefaultConfig()
	cfg.App, cfg.Version, cfg.Threads, cfg.Reload = "myapp.wsgi:application", "1.2.3", 8, true
	cfg.Chdir = "/srv/app"
	urls := []string{"http://127.0.0.1:8000", "https://[::1]:8443"}
	plain := bannerText(cfg, urls, 3, false)
	for _, want := range []string{"gowsgi 1.2.3", "Python 3.", "venv      none", "myapp.wsgi:application (in /srv/app)",
		"3 worker processes × 8 Python threads", "development only", "http://127.0.0.1:8000\n", "https://[::1]:8443\n"} {
		if !strings.Contains(plain, want) {
			t.Errorf("banner lacks %q:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "\x1b[") {
		t.Errorf("escape codes without colour:\n%q", plain)
	}
	if strings.Contains(plain, "Listening at") {
		t.Errorf("the banner must not look like a Listening log line:\n%s", plain)
	}
	if colored := bannerText(cfg, urls, 3, true); !strings.Contains(colored, ansiCyan+"http://127.0.0.1:8000"+ansiReset) {
		t.Errorf("URLs not coloured:\n%q", colored)
	}
}

func TestLogLevelColoredOnlyWhenAsked(t *testing.T) {
	var b strings.Builder
	l := NewLogger(&b, LevelInfo)
	l.Warningf("plain")
	l.color = true
	l.Errorf("painted")
	out := b.String()
	if !strings.Contains(out, "[WARNING] plain") || !strings.Contains(out, "["+ansiRed+"ERROR"+ansiReset+"] painted") {
		t.Errorf("log:\n%q", out)
	}
}
