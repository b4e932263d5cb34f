package main

// Shell completion and the man pages, both generated from the commands.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestCompletionScripts(t *testing.T) {
	wants := map[string]string{
		"bash": "# bash completion V2 for gowsgi",
		"zsh":  "#compdef gowsgi",
		"fish": "# fish completion for gowsgi",
	}
	for shell, want := range wants {
		code, out, stderr := runGowsgiIn(t, t.TempDir(), nil, "completion", shell)
		if code != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("gowsgi completion %s: exit %d, output starts %.80q, want %q\n%s", shell, code, out, want, stderr)
		}
	}
	// The completion script asks the binary for candidates: subcommands
	// and run's flags must come back.
	_, out, _ := runGowsgiIn(t, t.TempDir(), nil, "__complete", "")
	for _, cmd := range []string{"run", "check", "config", "version", "completion"} {
		if !strings.Contains(out, "\n"+cmd+"\t") && !strings.HasPrefix(out, cmd+"\t") {
			t.Errorf("completion of subcommands lacks %s:\n%s", cmd, out)
		}
	}
	_, out, _ = runGowsgiIn(t, t.TempDir(), nil, "__complete", "run", "--thr")
	if !strings.Contains(out, "--threads") {
		t.Errorf("completion of run --thr lacks --threads:\n%s", out)
	}
}

// manDate is the date field of a page's .TH line, which may differ.
var manDate = regexp.MustCompile(`(?m)^(\.TH "[^"]*" "[^"]*") "[^"]*"`)

// TestManPagesAreCurrent regenerates the man pages and compares them with
// docs/man: a changed flag or command needs `make docs`.
func TestManPagesAreCurrent(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(gowsgiBin, "docs", dir)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VIRTUAL_ENV=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gowsgi docs: %v\n%s", err, out)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	committed, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "man", "*.1"))
	if len(generated) == 0 || len(generated) != len(committed) {
		t.Fatalf("%d pages generated, %d in docs/man: run make docs", len(generated), len(committed))
	}
	for _, path := range generated {
		want, err := os.ReadFile(filepath.Join(repoRoot, "docs", "man", filepath.Base(path)))
		if err != nil {
			t.Errorf("%v: run make docs", err)
			continue
		}
		got, _ := os.ReadFile(path)
		if manDate.ReplaceAllString(string(got), "$1") != manDate.ReplaceAllString(string(want), "$1") {
			t.Errorf("docs/man/%s is out of date: run make docs", filepath.Base(path))
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "gowsgi-check.1"))
	if !strings.Contains(string(page), "wsgiref.validate") {
		t.Errorf("gowsgi-check.1 lacks the command's description")
	}
}
