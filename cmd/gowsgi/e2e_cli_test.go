package main

// The command line: how a bad APP, bad flags and the environment are
// handled, and `gowsgi version`.

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runGowsgi runs the binary to completion and returns its exit code and
// combined output.
func runGowsgi(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(gowsgiBin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("gowsgi %v did not exit:\n%s", args, out)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("run gowsgi: %v", err)
	}
	return 0, string(out)
}

func TestBadAppExitsWithCode2AndOneClearLine(t *testing.T) {
	requireVenv(t)
	apps := filepath.Join(repoRoot, "testdata", "apps")
	cases := []struct {
		app  string
		want []string
	}{
		{"nosuchmodule:app", []string{"nosuchmodule", "ModuleNotFoundError", "sys.path", apps}},
		{"hello:nosuchattr", []string{"'hello'", "nosuchattr", "AttributeError", "sys.path"}},
		{"hello:BODY", []string{"hello:BODY", "bytes, not a callable", "TypeError"}},
		{"errors:ROUTES", []string{"errors:ROUTES", "dict, not a callable", "sys.path"}},
		{"hello:application(", []string{"cannot parse"}},
	}
	for _, c := range cases {
		t.Run(c.app, func(t *testing.T) {
			code, out := runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", apps, "-b", "127.0.0.1:0", c.app)
			if code != 2 {
				t.Fatalf("exit code %d, want 2:\n%s", code, out)
			}
			// One line, and at most one hint line after it.
			line, hint, _ := strings.Cut(strings.TrimSpace(out), "\n")
			if !strings.HasPrefix(line, "gowsgi: cannot load the app: ") ||
				(hint != "" && (strings.Contains(hint, "\n") || !strings.HasPrefix(hint, "gowsgi: hint: "))) {
				t.Fatalf("want one line starting with the error (and one hint line), got:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(line, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "goroutine ") {
				t.Errorf("a Go stack trace leaked:\n%s", out)
			}
		})
	}
}

func TestBadFlagsExitWithCode2(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"run", "--threads", "0", "hello:application"},
		{"run", "--nosuchflag", "hello:application"},
		{"run", "--log-level", "loud", "hello:application"},
		// (bound to :0: on the default port, a server running there would
		// fail it first, with another message)
		{"run", "--virtualenv", "/nonexistent", "-b", "127.0.0.1:0", "hello:application"},
	} {
		code, out := runGowsgi(t, nil, args...)
		if code != 2 || !strings.HasPrefix(out, "gowsgi: ") {
			t.Errorf("gowsgi %v: exit %d, want 2 with a gowsgi: line:\n%s", args, code, out)
		}
	}
	code, out := runGowsgi(t, []string{"GOWSGI_THREADS=many"}, "run", "hello:application")
	if code != 2 || !strings.Contains(out, "GOWSGI_THREADS") {
		t.Errorf("a bad GOWSGI_THREADS: exit %d:\n%s", code, out)
	}
}

func TestAddressInUseIsNamed(t *testing.T) {
	s := startApps(t, "hello:application")
	code, out := runGowsgi(t, nil, "run", "--virtualenv", testVenv, "-b", s.addr, "hello:application")
	if code == 0 || !strings.Contains(out, s.addr) || !strings.Contains(out, "address already in use") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	s := startServer(t, serverOptions{
		app: "environ_dump:application", dir: "testdata/apps",
		env: []string{"GOWSGI_THREADS=1", "GOWSGI_ROOT_PATH=/envroot"},
	})
	_, body := s.get(t, "/envroot/x")
	if !strings.Contains(string(body), `"SCRIPT_NAME": "/envroot"`) || !strings.Contains(string(body), `"wsgi.multithread": false`) {
		t.Fatalf("GOWSGI_ROOT_PATH/GOWSGI_THREADS not applied: %s", body)
	}
}

func TestFactoryAndBareModuleSpecs(t *testing.T) {
	// module:factory(args) with literal arguments, here the validator wrapper.
	s := startApps(t, `validate_wrap:wrap("hello")`)
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	// A bare module uses its "application".
	s2 := startApps(t, "hello")
	resp, body = s2.get(t, "/")
	expectStatus(t, resp, body, 200)
}

func TestVersion(t *testing.T) {
	code, out := runGowsgi(t, nil, "version")
	if code != 0 || !regexp.MustCompile(`(?m)^gowsgi \S+\nGo go1\.\d+.*\nPython 3\.\d+\.\d+`).MatchString(out) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
