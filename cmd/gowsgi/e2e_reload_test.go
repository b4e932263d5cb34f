package main

// End-to-end tests of --reload: a save in a temp copy of the Flask app is
// served within a second with no refused connection, and a save that
// breaks the import is served as an escaped traceback page until fixed.

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reloadDeadline is how soon after a save the next response must show it.
const reloadDeadline = time.Second

// copyTree copies the directory src to dst (regular files only).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// saveLikeEditor replaces path's content by writing a temporary file and
// renaming it over the original, as vim and most IDEs do.
func saveLikeEditor(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".swp~"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// fetchFresh does one GET on a fresh connection.
func fetchFresh(url string) (int, string, string, error) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body), err
}

// waitForResponse polls url until ok accepts a response and returns how
// long that took.
func waitForResponse(t *testing.T, s *testServer, url string, within time.Duration, what string, ok func(status int, ctype, body string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var status int
	var body string
	for time.Since(start) < within {
		var ctype string
		var err error
		status, ctype, body, err = fetchFresh(url)
		if err == nil && ok(status, ctype, body) {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not seen within %s; last status %d body %.400q\nserver log:\n%s", what, within, status, body, s.stderr.String())
	return 0
}

func TestReloadFlaskEdit(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "testdata", "flask_app"), filepath.Join(dir, "flask_app"))
	appFile := filepath.Join(dir, "flask_app", "app.py")
	original, err := os.ReadFile(appFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", dir, "--reload", "--threads", "2", "--log-level", "debug", "flask_app.app:app")
	s, listens := launchServer(t, cmd, 1)
	s.url = listens[0]
	s.waitLog(t, "Booting worker")
	// The first save finds a warm spare (Flask already imported) waiting.
	s.waitLog(t, "is waiting, ")
	url := s.url + "/cookie"
	waitForResponse(t, s, url, 30*time.Second, "first answer", func(st int, _, b string) bool { return st == 200 && b == "cookie set\n" })

	// A client keeps asking on fresh connections through every swap: none
	// may be refused or fail.
	var (
		stopLoad = make(chan struct{})
		loadDone sync.WaitGroup
		requests atomic.Int64
		failMu   sync.Mutex
		failures []string
	)
	loadDone.Add(1)
	go func() {
		defer loadDone.Done()
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			if _, _, _, err := fetchFresh(url); err != nil {
				failMu.Lock()
				failures = append(failures, err.Error())
				failMu.Unlock()
			}
			requests.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	stopLoadOnce := sync.OnceFunc(func() { close(stopLoad); loadDone.Wait() })
	defer stopLoadOnce()

	// 1. An edit to a view is served within reloadDeadline.
	edited := strings.Replace(string(original), `"cookie set\n"`, `"cookie changed\n"`, 1)
	if edited == string(original) {
		t.Fatal("the Flask app's /cookie view changed: update this test")
	}
	if err := os.WriteFile(appFile, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	took := waitForResponse(t, s, url, 30*time.Second, "edited view", func(st int, _, b string) bool { return st == 200 && b == "cookie changed\n" })
	t.Logf("save -> new response (warm spare): %s", took.Round(time.Millisecond))
	if !strings.Contains(s.stderr.String(), "Activated spare worker") {
		t.Errorf("the reload did not use the spare:\n%s", s.stderr.String())
	}
	if took > reloadDeadline {
		t.Errorf("the edit took %s to be served, want under %s", took.Round(time.Millisecond), reloadDeadline)
	}

	// 2. A syntax error: the traceback page, escaped, and the server stays.
	broken := strings.Replace(edited, "def cookie():", "def cookie(: # <b>unclosed</b>", 1)
	saveLikeEditor(t, appFile, broken)
	var page string
	took = waitForResponse(t, s, url, 30*time.Second, "syntax error page", func(st int, ct, b string) bool {
		page = b
		return st == 500 && strings.HasPrefix(ct, "text/html")
	})
	t.Logf("save (syntax error) -> traceback page: %s", took.Round(time.Millisecond))
	for _, want := range []string{"SyntaxError", "def cookie(: # &lt;b&gt;unclosed&lt;/b&gt;", filepath.Join("flask_app", "app.py")} {
		if !strings.Contains(page, want) {
			t.Errorf("traceback page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<b>unclosed") {
		t.Errorf("traceback page has unescaped app text:\n%s", page)
	}

	// 3. An ImportError raised by the app's own import: the same page.
	saveLikeEditor(t, appFile, "import gowsgi_no_such_module_for_reload\n"+edited)
	waitForResponse(t, s, url, 30*time.Second, "import error page", func(st int, _, b string) bool {
		return st == 500 && strings.Contains(b, "ModuleNotFoundError") && strings.Contains(b, "gowsgi_no_such_module_for_reload")
	})

	// 4. Fixing it restores service.
	saveLikeEditor(t, appFile, string(original))
	took = waitForResponse(t, s, url, 30*time.Second, "fixed app", func(st int, _, b string) bool { return st == 200 && b == "cookie set\n" })
	t.Logf("save (fix) -> restored: %s", took.Round(time.Millisecond))

	stopLoadOnce()
	failMu.Lock()
	defer failMu.Unlock()
	t.Logf("%d requests during the swaps", requests.Load())
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed during the swaps, first: %s", len(failures), requests.Load(), failures[0])
	}
	select {
	case <-s.exited:
		t.Fatalf("the server exited:\n%s", s.stderr.String())
	default:
	}
}

// A file outside the include globs, or excluded, does not reload; an
// --reload-extra-file does.
func TestReloadIncludeExcludeExtra(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "testdata", "apps"), dir)
	extra := filepath.Join(dir, "settings.toml")
	if err := os.WriteFile(extra, []byte("a = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", dir, "--reload", "--reload-exclude", "streaming.py",
		"--reload-extra-file", extra, "hello:application")
	s, _ := launchServer(t, cmd, 1)
	s.waitLog(t, "Booting worker")
	for _, name := range []string{"notes.txt", "streaming.py"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("# changed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // past the debounce
	if strings.Contains(s.stderr.String(), "Detected a change") {
		t.Fatalf("a change to an unwatched file reloaded:\n%s", s.stderr.String())
	}
	if err := os.WriteFile(extra, []byte("a = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "Detected a change in "+extra)
	// A new package directory is watched as soon as it appears.
	pkg := filepath.Join(dir, "newpkg")
	if err := os.Mkdir(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(pkg, "mod.py"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, "Detected a change in "+filepath.Join(pkg, "mod.py"))
}

// --reload with several workers and a --timeout: every worker is replaced
// by one running the new code, and none is killed for its heartbeat.
func TestReloadSeveralWorkersWithTimeout(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	copyTree(t, filepath.Join(repoRoot, "testdata", "apps"), dir)
	app := filepath.Join(dir, "reload_probe.py")
	write := func(version string) {
		src := "import os\n\ndef application(environ, start_response):\n" +
			"    start_response('200 OK', [('Content-Type', 'text/plain')])\n" +
			"    return [b'" + version + " %d' % os.getpid()]\n"
		if err := os.WriteFile(app, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("v1")
	cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", dir, "--reload", "--workers", "2", "--timeout", "2", "reload_probe:application")
	s, listens := launchServer(t, cmd, 1)
	s.url = listens[0]
	waitForResponse(t, s, s.url+"/", 30*time.Second, "v1", func(st int, _, b string) bool { return st == 200 && strings.HasPrefix(b, "v1 ") })
	write("v2")
	waitForResponse(t, s, s.url+"/", 30*time.Second, "v2", func(st int, _, b string) bool { return st == 200 && strings.HasPrefix(b, "v2 ") })
	// Once the old workers have drained, every answer is v2, from two pids.
	s.waitLog(t, "Reload complete")
	time.Sleep(300 * time.Millisecond)
	pids := map[string]bool{}
	for range 40 {
		st, _, body, err := fetchFresh(s.url + "/")
		if err != nil || st != 200 || !strings.HasPrefix(body, "v2 ") {
			t.Fatalf("after the reload: status %d body %q err %v\n%s", st, body, err, s.stderr.String())
		}
		pids[body] = true
	}
	if len(pids) != 2 {
		t.Logf("answers came from %d worker(s): %v (the kernel's spread, not an error)", len(pids), pids)
	}
	time.Sleep(2500 * time.Millisecond) // past --timeout: the heartbeats keep coming
	if log := s.stderr.String(); strings.Contains(log, "WORKER TIMEOUT") {
		t.Fatalf("a worker was killed for its timeout:\n%s", log)
	}
}

// Under --reload an app that does not import at start-up is served as the
// traceback page (the server stays up) until a save fixes it.
func TestReloadStartsWithBrokenApp(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	app := filepath.Join(dir, "broken_start.py")
	if err := os.WriteFile(app, []byte("def application(environ, start_response:\n    pass\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", dir, "--reload", "broken_start:application")
	s, listens := launchServer(t, cmd, 1)
	s.url = listens[0]
	waitForResponse(t, s, s.url+"/", 30*time.Second, "traceback page", func(st int, ct, b string) bool {
		return st == 500 && strings.HasPrefix(ct, "text/html") && strings.Contains(b, "SyntaxError") && strings.Contains(b, "broken_start.py")
	})
	saveLikeEditor(t, app, "def application(environ, start_response):\n"+
		"    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'fixed']\n")
	waitForResponse(t, s, s.url+"/", 30*time.Second, "fixed app", func(st int, _, b string) bool { return st == 200 && b == "fixed" })
}

// A library (outside the app's tree) that imports the app's own module
// would make a warm spare hold stale app code: the spare gives up, and
// reloads start cold workers, which still pick up every change.
func TestReloadSpareFallsBackWhenALibraryImportsTheApp(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	libs, appDir := filepath.Join(dir, "libs"), filepath.Join(dir, "app")
	for _, d := range []string{libs, appDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(libs, "lib_imports_app.py"): "import appsettings\n",
		filepath.Join(appDir, "appsettings.py"):   "GREETING = b'one'\n",
		filepath.Join(appDir, "main.py"): "import lib_imports_app, appsettings\n\n" +
			"def application(environ, start_response):\n" +
			"    start_response('200 OK', [('Content-Type', 'text/plain')])\n" +
			"    return [appsettings.GREETING]\n",
	}
	for path, src := range files {
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", appDir, "--reload", "main")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+libs)
	s, listens := launchServer(t, cmd, 1)
	s.url = listens[0]
	s.waitLog(t, "reloads start cold workers from now on")
	saveLikeEditor(t, filepath.Join(appDir, "appsettings.py"), "GREETING = b'two'\n")
	waitForResponse(t, s, s.url+"/", 30*time.Second, "the changed setting", func(st int, _, b string) bool { return st == 200 && b == "two" })
}
