package main

import (
	"strings"
	"testing"
)

// The startup banner is one block on stderr before the Listening lines,
// without colour when stderr is not a terminal.
func TestStartupBanner(t *testing.T) {
	s := startServer(t, serverOptions{app: "hello:application", dir: "testdata/apps", args: []string{"--threads", "3"}})
	log := s.stderr.String()
	banner, _, found := strings.Cut(log, "Listening at: ")
	if !found {
		t.Fatalf("no Listening line:\n%s", log)
	}
	for _, want := range []string{"gowsgi ", "Python 3.", testVenv + "/bin/python", "venv      " + testVenv,
		"hello:application (in ", "1 process × 3 Python threads", s.url + "\n"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(log, "\x1b[") {
		t.Errorf("colour codes on a pipe:\n%q", log)
	}
}
