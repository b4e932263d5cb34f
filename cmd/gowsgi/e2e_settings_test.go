package main

// Settings layers: flags > GOWSGI_* environment > configuration file
// (--config FILE, else [tool.gowsgi] in ./pyproject.toml) > defaults, the
// unknown-key error and `gowsgi config`.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// projectDir makes a temp dir holding pyproject.toml with text as its
// [tool.gowsgi] table and returns it.
func projectDir(t *testing.T, table string) string {
	t.Helper()
	dir := t.TempDir()
	text := "[project]\nname = \"demo\"\n\n[tool.gowsgi]\n" + table
	if err := os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runInProject serves with `gowsgi run args...` in dir and returns the
// server once it listens.
func runInProject(t *testing.T, dir string, env []string, args ...string) *testServer {
	t.Helper()
	requireVenv(t)
	cmd := exec.Command(gowsgiBin, append([]string{"run"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	s, listens := launchServer(t, cmd, 1)
	s.addr = strings.TrimPrefix(listens[0], "http://")
	s.url = "http://" + s.addr
	return s
}

// helloProject is a pyproject.toml that names the app, where it lives and
// an ephemeral bind: `gowsgi run` needs no argument in it.
func helloProject(t *testing.T, more string) string {
	t.Helper()
	apps := filepath.Join(repoRoot, "testdata", "apps")
	return projectDir(t, fmt.Sprintf("app = \"hello\"\nchdir = %q\nbind = [\"127.0.0.1:0\"]\nthreads = 3\n%s", apps, more))
}

func TestSettingsFromPyprojectServe(t *testing.T) {
	dir := helloProject(t, "graceful_timeout = 2\n")
	s := runInProject(t, dir, nil, "--virtualenv", testVenv)
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	if string(body) != "Hello, world" {
		t.Fatalf("body %q", body)
	}
	s.waitLog(t, "Serving hello with 3 Python threads")
}

func TestSettingsEnvironmentBeatsFile(t *testing.T) {
	dir := helloProject(t, "")
	s := runInProject(t, dir, []string{"GOWSGI_THREADS=5"}, "--virtualenv", testVenv)
	s.waitLog(t, "Serving hello with 5 Python threads")
}

func TestSettingsFlagBeatsEnvironmentAndFile(t *testing.T) {
	dir := helloProject(t, "")
	s := runInProject(t, dir, []string{"GOWSGI_THREADS=5"}, "--virtualenv", testVenv, "--threads", "6")
	s.waitLog(t, "Serving hello with 6 Python threads")
}

func TestSettingsDefaultsWithoutAFile(t *testing.T) {
	code, out, stderr := runGowsgiIn(t, t.TempDir(), nil, "config", "hello")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"# configuration file: none\n", "app = \"hello\" # argument\n", "threads = 4 # default\n", "bind = [\"127.0.0.1:8000\"] # default\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("gowsgi config lacks %q:\n%s", want, out)
		}
	}
}

func TestSettingsConfigFlagReplacesPyproject(t *testing.T) {
	dir := projectDir(t, "threads = 3\n")
	file := filepath.Join(dir, "gowsgi.toml")
	text := "threads = 2\npythonpath = [\"a\", \"b\"]\nh2c = true\nbody-timeout = 12\nwrite_timeout = \"1m\"\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runGowsgiIn(t, dir, nil, "config", "--config", file, "hello")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	src := " # " + file + "\n"
	for _, want := range []string{"# configuration file: " + file + "\n", "threads = 2" + src, "pythonpath = [\"a\", \"b\"]" + src,
		"h2c = true" + src, "body-timeout = 12" + src, "write-timeout = 60" + src} {
		if !strings.Contains(out, want) {
			t.Errorf("gowsgi config lacks %q:\n%s", want, out)
		}
	}
}

func TestSettingsUnknownKeyIsAnError(t *testing.T) {
	dir := projectDir(t, "threads = 2\nthread = 3\n")
	for _, args := range [][]string{{"run", "hello"}, {"config"}, {"check", "hello"}} {
		code, out, stderr := runGowsgiIn(t, dir, nil, args...)
		want := "gowsgi: unknown key \"thread\" in pyproject.toml [tool.gowsgi]\n"
		if code != 2 || stderr != want || out != "" {
			t.Errorf("gowsgi %v: exit %d, stderr %q, stdout %q; want exit 2 and %q", args, code, stderr, out, want)
		}
	}
	file := filepath.Join(dir, "other.toml")
	if err := os.WriteFile(file, []byte("bindd = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runGowsgiIn(t, dir, nil, "config", "--config", file)
	if want := fmt.Sprintf("gowsgi: unknown key \"bindd\" in %s\n", file); code != 2 || stderr != want {
		t.Errorf("--config: exit %d, stderr %q; want exit 2 and %q", code, stderr, want)
	}
}

// TestConfigCommandPrintsEverySettingWithItsSource checks every layer at
// once in `gowsgi config`, and that its output is TOML that reads back as
// the same values.
func TestConfigCommandPrintsEverySettingWithItsSource(t *testing.T) {
	dir := projectDir(t, "app = \"hello\"\nthreads = 3\nworkers = 2\nlog-level = \"debug\"\n")
	env := []string{"GOWSGI_WORKERS=4", "GOWSGI_BACKLOG=64"}
	code, out, stderr := runGowsgiIn(t, dir, env, "config", "--log-level", "warning")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	const file = "pyproject.toml [tool.gowsgi]"
	want := map[string]string{
		"app":        "hello # " + file,
		"threads":    "3 # " + file,
		"workers":    "4 # env GOWSGI_WORKERS",
		"backlog":    "64 # env GOWSGI_BACKLOG",
		"log-level":  "\"warning\" # flag",
		"keep-alive": "5 # default",
	}
	seen := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, " = ")
		if !ok || !strings.Contains(value, " # ") {
			t.Errorf("line %q is not KEY = VALUE # SOURCE", line)
			continue
		}
		seen[key]++
		if w, ok := want[key]; ok && strings.ReplaceAll(value, "\"hello\"", "hello") != w {
			t.Errorf("%s = %s, want %s", key, value, w)
		}
	}
	// Every flag of run appears once (and app).
	run := newRunCommand()
	run.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && seen[f.Name] != 1 {
			t.Errorf("flag --%s printed %d times", f.Name, seen[f.Name])
		}
	})
	if seen["app"] != 1 {
		t.Errorf("app printed %d times", seen["app"])
	}
	var decoded map[string]any
	if _, err := toml.Decode(out, &decoded); err != nil {
		t.Fatalf("gowsgi config output is not TOML: %v\n%s", err, out)
	}
	if decoded["threads"] != int64(3) || decoded["log-level"] != "warning" || decoded["app"] != "hello" {
		t.Errorf("decoded %v", decoded)
	}
}

// A GOWSGI_* variable that names no setting is logged at start-up and
// shown by `gowsgi config`; the server still starts.
func TestUnknownEnvironmentVariableIsLogged(t *testing.T) {
	dir := helloProject(t, "")
	s := runInProject(t, dir, []string{"GOWSGI_THREAD=8"}, "--virtualenv", testVenv)
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	const warning = "[WARNING] GOWSGI_THREAD is not a gowsgi setting and is ignored; did you mean GOWSGI_THREADS?"
	if !strings.Contains(s.stderr.String(), warning) {
		t.Errorf("the log lacks %q:\n%s", warning, s.stderr.String())
	}

	cmd := exec.Command(gowsgiBin, "config")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWSGI_THREAD=8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gowsgi config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# warning: GOWSGI_THREAD is not a gowsgi setting") || !strings.Contains(string(out), "threads = 3 #") {
		t.Errorf("gowsgi config:\n%s", out)
	}
}
