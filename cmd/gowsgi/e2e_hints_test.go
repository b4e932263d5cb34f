package main

// The common mistakes end with one line saying what failed and one line
// saying what to do.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// expectHint checks a failed run printed exactly an error line and a hint
// line, each holding its wants.
func expectHint(t *testing.T, code int, out string, wantCode int, line, hint []string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit code %d, want %d:\n%s", code, wantCode, out)
	}
	// Other lines (the log) may come first: the last two are the error.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "gowsgi: hint: ") || !strings.HasPrefix(lines[len(lines)-2], "gowsgi: ") {
		t.Fatalf("want an error line then a hint line, got:\n%s", out)
	}
	for _, w := range line {
		if !strings.Contains(lines[len(lines)-2], w) {
			t.Errorf("error line lacks %q:\n%s", w, out)
		}
	}
	for _, w := range hint {
		if !strings.Contains(lines[len(lines)-1], w) {
			t.Errorf("hint lacks %q:\n%s", w, out)
		}
	}
}

func TestHintModuleNotFoundListsWSGIModules(t *testing.T) {
	requireVenv(t)
	testdata := filepath.Join(repoRoot, "testdata")
	// From testdata/, the Django project's demo/wsgi.py is one level down.
	code, out := runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", testdata, "-b", "127.0.0.1:0", "demo.wsgi")
	expectHint(t, code, out, 2,
		[]string{"cannot load the app", "'demo.wsgi'", "ModuleNotFoundError"},
		[]string{"--chdir", "--pythonpath", testdata, "demo.wsgi with --chdir django_demo"})
	// Where there is no wsgi.py, the hint says so.
	code, out = runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", filepath.Join(testdata, "apps"), "-b", "127.0.0.1:0", "nosuchmodule")
	expectHint(t, code, out, 2, []string{"'nosuchmodule'"}, []string{"no wsgi.py found"})
}

func TestHintDjangoSettingsNotConfigured(t *testing.T) {
	requireVenv(t)
	code, out := runGowsgi(t, []string{"DJANGO_SETTINGS_MODULE="}, "run", "--virtualenv", testVenv,
		"--chdir", filepath.Join(repoRoot, "testdata"), "--pythonpath", "apps", "-b", "127.0.0.1:0", "django_nosettings")
	expectHint(t, code, out, 2,
		[]string{"Django settings are not configured", "DJANGO_SETTINGS_MODULE"},
		[]string{"set DJANGO_SETTINGS_MODULE", "demo.settings with --chdir django_demo"})
	if strings.Contains(out, "Traceback") {
		t.Errorf("a traceback instead of one line:\n%s", out)
	}
}

func TestHintAddressInUse(t *testing.T) {
	s := startApps(t, "hello:application")
	_, port, _ := strings.Cut(s.addr, ":")
	code, out := runGowsgi(t, nil, "run", "--virtualenv", testVenv, "-b", s.addr, "hello:application")
	expectHint(t, code, out, 1,
		[]string{"listen on " + s.addr, "address already in use"},
		[]string{"sport = :" + port, "--bind"})
}

// An app that imports a library this Python does not have (the usual
// cause: no virtualenv, or another one) gets one line naming the library
// and the app's line, and a hint about the virtualenv, not a traceback
// through importlib.
func TestHintMissingLibraryNamesTheVirtualenv(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "needs_lib.py")
	if err := os.WriteFile(app, []byte("import os\nimport notinstalled_lib_xyz.sub\n\ndef application(e, sr):\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".venv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".venv", "pyvenv.cfg"), []byte("home = /usr/bin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runGowsgi(t, []string{"VIRTUAL_ENV="}, "run", "--chdir", dir, "-b", "127.0.0.1:0", "needs_lib")
	expectHint(t, code, out, 2,
		[]string{"the app imports 'notinstalled_lib_xyz'", app + ":2", "ModuleNotFoundError"},
		[]string{"no virtualenv is in use", "--virtualenv", "virtualenvs found here: .venv"})
	if strings.Contains(out, "Traceback") {
		t.Errorf("a traceback instead of one line:\n%s", out)
	}
	// The app's own module, there but off sys.path (src/app.py imports
	// utils, run as src.app without --chdir src): no install hint, the
	// traceback.
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"src/app.py": "import utils\n", "src/utils.py": "x = 1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out = runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", dir, "-b", "127.0.0.1:0", "src.app")
	if code != 2 || strings.Contains(out, "install the package") || !strings.Contains(out, "No module named 'utils'") {
		t.Errorf("a local module off sys.path: exit %d, want 2 with the ModuleNotFoundError and no install hint:\n%s", code, out)
	}
	// With a virtualenv that lacks it, the hint says where to install it.
	code, out = runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", dir, "-b", "127.0.0.1:0", "needs_lib")
	expectHint(t, code, out, 2, []string{"'notinstalled_lib_xyz'"}, []string{"install the package that provides 'notinstalled_lib_xyz'", testVenv})
}

// An app factory given without its call (Flask's create_app) cannot take
// (environ, start_response): it is refused at start-up with a hint to call
// it, not answered 500 on every request.
func TestHintFactoryGivenWithoutItsCall(t *testing.T) {
	requireVenv(t)
	code, out := runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", filepath.Join(repoRoot, "testdata", "apps"), "-b", "127.0.0.1:0", "validate_wrap:wrap")
	expectHint(t, code, out, 2,
		[]string{"'validate_wrap:wrap' cannot be called as a WSGI app", "start_response"},
		[]string{"call it: validate_wrap:wrap()"})

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A bare module: the hint names the attribute it resolved to.
	write("onearg.py", "def application(config):\n    pass\n")
	code, out = runGowsgi(t, nil, "run", "--virtualenv", testVenv, "--chdir", dir, "-b", "127.0.0.1:0", "onearg")
	expectHint(t, code, out, 2, []string{"'onearg' cannot be called"}, []string{"call it: onearg:application()"})

	// A WSGI app made by a functools.wraps decorator (werkzeug's
	// @Request.application) is judged by its own signature, not by the
	// view's in __wrapped__, and serves.
	write("wzapp.py", "from werkzeug.wrappers import Request, Response\n\n@Request.application\ndef application(request):\n    return Response('hi from werkzeug')\n")
	s := startServer(t, serverOptions{app: "wzapp:application", args: []string{"--chdir", dir}})
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	if string(body) != "hi from werkzeug" {
		t.Errorf("body %q", body)
	}
}
