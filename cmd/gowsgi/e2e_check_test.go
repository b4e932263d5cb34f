package main

// `gowsgi check APP`: clean on the good apps of testdata, one finding per
// seeded fault of testdata/apps/broken_app.py, exit 2 when the app does not
// load.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runGowsgiIn runs the binary in dir to completion and returns its exit
// code, stdout and stderr apart (the apps' own logging goes to stderr).
func runGowsgiIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(gowsgiBin, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), env...)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start gowsgi: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("gowsgi %v did not exit:\n%s%s", args, stdout.String(), stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestCheckPassesTheGoodApps(t *testing.T) {
	requireVenv(t)
	cases := []struct {
		name, app, dir string
		env            func(t *testing.T) []string
	}{
		{"hello", "hello", "testdata/apps", nil},
		{"flask", "flask_app.app:app", "testdata", nil},
		{"django", "demo.wsgi:application", "testdata/django_demo", func(t *testing.T) []string { return djangoMigrate(t) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var env []string
			if c.env != nil {
				env = c.env(t)
			}
			code, stdout, stderr := runGowsgiIn(t, t.TempDir(), env, "check", "--virtualenv", testVenv,
				"--chdir", filepath.Join(repoRoot, c.dir), c.app)
			want := fmt.Sprintf("gowsgi check: %s: no findings in 5 requests\n", c.app)
			if code != 0 || stdout != want {
				t.Fatalf("gowsgi check %s: exit %d, stdout:\n%s\nwant exit 0 and only %q\nstderr:\n%s", c.app, code, stdout, want, stderr)
			}
		})
	}
}

func TestCheckReportsEachSeededFaultOnce(t *testing.T) {
	requireVenv(t)
	apps := filepath.Join(repoRoot, "testdata", "apps")
	source := filepath.Join(apps, "broken_app.py")
	// Each seeded fault: the synthetic request that meets it, the check
	// that must name it and the marker on the line it must point at.
	faults := []struct{ request, check, marker string }{
		{"GET /", "Content-Length", "FAULT: Content-Length"},
		{"HEAD /", "hop-by-hop header", "FAULT: hop-by-hop"},
		{"POST / (form body)", "wsgiref.validate", "FAULT: not str"},
		{"OPTIONS *", "wsgiref.validate", "FAULT: status"},
		{"POST / (chunked body)", "close()", "FAULT: close raises"},
	}
	code, stdout, stderr := runGowsgiIn(t, t.TempDir(), nil, "check", "--virtualenv", testVenv, "--chdir", apps, "broken_app")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	findings, summary := lines[:len(lines)-1], lines[len(lines)-1]
	if len(findings) != len(faults) {
		t.Fatalf("%d findings, want %d (one per seeded fault):\n%s", len(findings), len(faults), stdout)
	}
	if want := fmt.Sprintf("gowsgi check: broken_app: %d finding(s) in 5 requests", len(faults)); summary != want {
		t.Errorf("summary %q, want %q", summary, want)
	}
	for i, f := range faults {
		where := fmt.Sprintf("(at %s:%d)", source, lineOf(t, source, f.marker))
		prefix := f.request + ": " + f.check + ": "
		if !strings.HasPrefix(findings[i], prefix) || !strings.HasSuffix(findings[i], where) {
			t.Errorf("finding %d:\n  %s\nwant %q ... %q", i+1, findings[i], prefix, where)
		}
	}
	if !strings.Contains(stderr, "check found 5 problem(s) in broken_app") {
		t.Errorf("stderr lacks the exit message:\n%s", stderr)
	}
}

func TestCheckUnloadableAppExits2(t *testing.T) {
	requireVenv(t)
	code, stdout, stderr := runGowsgiIn(t, t.TempDir(), nil, "check", "--virtualenv", testVenv,
		"--chdir", filepath.Join(repoRoot, "testdata", "apps"), "nosuchmodule:app")
	if code != 2 || !strings.Contains(stderr, "cannot load the app") || stdout != "" {
		t.Fatalf("exit %d, want 2 with a load error\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// lineOf is the 1-based number of the first line of path containing text.
func lineOf(t *testing.T, path, text string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.Contains(sc.Text(), text) {
			return n
		}
	}
	t.Fatalf("%s has no line with %q", path, text)
	return 0
}

// TestCheckReportsWhatTheServerRefuses: a response head that passes the
// validator but not gowsgi is one finding per request, from the server's
// error log, pointing at the app's start_response.
func TestCheckReportsWhatTheServerRefuses(t *testing.T) {
	requireVenv(t)
	apps := filepath.Join(repoRoot, "testdata", "apps")
	source := filepath.Join(apps, "informational_status.py")
	code, stdout, stderr := runGowsgiIn(t, t.TempDir(), nil, "check", "--virtualenv", testVenv, "--chdir", apps, "informational_status")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 1 || len(lines) != 6 {
		t.Fatalf("exit %d, %d lines; want 1 and 5 findings + summary\nstdout:\n%s\nstderr:\n%s", code, len(lines), stdout, stderr)
	}
	where := fmt.Sprintf("(at %s:%d)", source, lineOf(t, source, "# refused"))
	for _, line := range lines[:5] {
		if !strings.Contains(line, ": server: ") || !strings.Contains(line, "informational codes are not allowed") || !strings.HasSuffix(line, where) {
			t.Errorf("finding %q: want the server's refusal of the 1xx status %s", line, where)
		}
	}
}

// An app that returns something not iterable is one finding per request,
// without wsgiref's "Exception ignored in IteratorWrapper.__del__" noise.
func TestCheckNonIterableResultIsQuiet(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	app := "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return 42\n"
	if err := os.WriteFile(filepath.Join(dir, "noniter.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runGowsgiIn(t, dir, nil, "check", "--virtualenv", testVenv, "noniter:application")
	if code != 1 || !strings.Contains(stdout, "'int' object is not iterable") || strings.Contains(stdout+stderr, "Exception ignored") {
		t.Fatalf("exit %d, want 1 with the finding and no 'Exception ignored'\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
