package main

// Operations, logs and request ids (issue 6): gunicorn access log atoms
// parse back to the request's fields, --log-format json gives valid JSON
// with the request id in both logs and the environ, and SIGUSR1 reopens
// both log files after logrotate moved them.

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gunicornLine matches gunicorn's default access format followed by the
// extra atoms the test adds: %(D)s %(L)s "%({X-Custom}i)s"
// "%({Content-Type}o)s" %(p)s %(m)s %(U)s "%(q)s" %(H)s %(B)s
// "%({X-Request-ID}i)s".
var gunicornLine = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"]*)" (\d{3}) (\S+) "([^"]*)" "([^"]*)" (\d+) (\d+\.\d{6}) "([^"]*)" "([^"]*)" <(\d+)> (\S+) (\S+) "([^"]*)" (\S+) (\d+) "([^"]*)"$`)

const extendedFormat = `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)s %(L)s "%({X-Custom}i)s" "%({Content-Type}o)s" %(p)s %(m)s %(U)s "%(q)s" %(H)s %(B)s "%({X-Request-ID}i)s"`

// waitFileLines waits until path has at least n lines and returns them.
func waitFileLines(t *testing.T, path string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(data) > 0 && len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d lines, want %d:\n%s", path, len(lines), n, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOpsAccessLogGunicornAtoms(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
		args: []string{"--access-logfile", logFile, "--access-logformat", extendedFormat}})
	before := time.Now()

	req, _ := http.NewRequest(http.MethodGet, s.url+"/spin?s=0.05", nil)
	req.SetBasicAuth("alice", "secret")
	req.Header.Set("Referer", "http://ref.example/page")
	req.Header.Set("User-Agent", "ops-test/1.0")
	req.Header.Set("X-Custom", "hello there")
	req.Header.Set("X-Request-ID", "client-id-42")
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.get(t, "/nothing-here", "User-Agent", "ops-test/2.0") // 404, no referer, a made id

	lines := waitFileLines(t, logFile, 2)
	type want struct {
		user, request, status, size, referer, agent, custom, ctype, method, path, query, id string
		minMicros                                                                           int64
	}
	wants := []want{
		{"alice", "GET /spin?s=0.05 HTTP/1.1", "200", "4", "http://ref.example/page", "ops-test/1.0", "hello there", "text/plain", "GET", "/spin", "s=0.05", "client-id-42", 50000},
		{"-", "GET /nothing-here HTTP/1.1", "404", "9", "-", "ops-test/2.0", "-", "text/plain", "GET", "/nothing-here", "", "", 0},
	}
	for i, w := range wants {
		m := gunicornLine.FindStringSubmatch(lines[i])
		if m == nil {
			t.Fatalf("line %d does not parse as the format:\n%s", i, lines[i])
		}
		got := want{user: m[3], request: m[5], status: m[6], size: m[7], referer: m[8], agent: m[9],
			custom: m[12], ctype: m[13], method: m[15], path: m[16], query: m[17], id: m[20]}
		if w.id == "" { // made by gowsgi: a random prefix, a dash, a counter
			if !regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]+$`).MatchString(got.id) {
				t.Errorf("line %d: made request id %q, want hex prefix-counter", i, got.id)
			}
			w.id = got.id
		}
		w.minMicros = 0
		if got != w {
			t.Errorf("line %d: fields\n got %+v\nwant %+v\n%s", i, got, w, lines[i])
		}
		if m[1] != "127.0.0.1" || m[2] != "-" || m[18] != "HTTP/1.1" || m[19] != w.size {
			t.Errorf("line %d: h/l/H/B atoms %q %q %q %q", i, m[1], m[2], m[18], m[19])
		}
		if m[14] != strconv.Itoa(s.cmd.Process.Pid) {
			t.Errorf("line %d: %%(p)s is %s, want the server's pid %d", i, m[14], s.cmd.Process.Pid)
		}
		when, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[4])
		if err != nil || when.Before(before.Add(-2*time.Second)) || when.After(time.Now().Add(time.Second)) {
			t.Errorf("line %d: %%(t)s %q is not the request's time (%v)", i, m[4], err)
		}
		micros, _ := strconv.ParseInt(m[10], 10, 64)
		seconds, _ := strconv.ParseFloat(m[11], 64)
		if micros < wants[i].minMicros || micros > 10_000_000 {
			t.Errorf("line %d: %%(D)s = %d µs, want at least %d", i, micros, wants[i].minMicros)
		}
		if diff := seconds*1e6 - float64(micros); diff < -1 || diff > 1 {
			t.Errorf("line %d: %%(L)s %s s and %%(D)s %d µs disagree", i, m[11], micros)
		}
	}
}

func TestOpsJSONLogsCarryTheRequestID(t *testing.T) {
	dir := t.TempDir()
	accessFile, errorFile := filepath.Join(dir, "access.json"), filepath.Join(dir, "error.json")
	s := startServerLoggingTo(t, serverOptions{app: "errors:application", dir: "testdata/apps",
		args: []string{"--access-logfile", accessFile, "--log-format", "json"}}, errorFile)
	resp, _ := s.get(t, "/raise-before-start", "X-Request-ID", "trace-me-7")
	expectStatus(t, resp, nil, 500)
	s.get(t, "/ok")

	access := waitFileLines(t, accessFile, 2)
	var ids []string
	for i, line := range access {
		var rec struct {
			RequestID  string `json:"request_id"`
			Method     string `json:"method"`
			URI        string `json:"uri"`
			Status     int    `json:"status"`
			Bytes      int64  `json:"bytes"`
			DurationUS int64  `json:"duration_us"`
			Time       string `json:"time"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("access line %d is not JSON: %v\n%s", i, err, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec.Time); err != nil {
			t.Errorf("access line %d: time %q: %v", i, rec.Time, err)
		}
		ids = append(ids, rec.RequestID)
		if i == 0 && (rec.URI != "/raise-before-start" || rec.Status != 500 || rec.RequestID != "trace-me-7") {
			t.Errorf("access line 0: %+v", rec)
		}
		if i == 1 && (rec.URI != "/ok" || rec.Status != 200 || rec.Bytes != 2 || rec.RequestID == "") {
			t.Errorf("access line 1: %+v", rec)
		}
	}
	if ids[0] == ids[1] {
		t.Errorf("two requests share the id %q", ids[0])
	}

	deadline := time.Now().Add(10 * time.Second)
	var traceback map[string]any
	for traceback == nil {
		data, _ := os.ReadFile(errorFile)
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("error log line is not one JSON object: %v\n%s", err, line)
			}
			if rec["traceback"] != nil {
				traceback = rec
			}
		}
		if traceback == nil && time.Now().After(deadline) {
			t.Fatalf("no error record with a traceback:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb, _ := traceback["traceback"].(string)
	if traceback["request_id"] != "trace-me-7" || traceback["level"] != "ERROR" ||
		!strings.HasPrefix(tb, "Traceback (most recent call last):") ||
		!strings.Contains(tb, "RuntimeError: raised before start_response") ||
		!strings.Contains(traceback["message"].(string), "GET /raise-before-start") {
		t.Errorf("traceback record: %v", traceback)
	}
}

// The app sees the request id as HTTP_X_REQUEST_ID whether the client
// sent it or gowsgi made it, and the made one is the one logged.
func TestOpsRequestIDInEnviron(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.json")
	s := startServer(t, serverOptions{app: "environ_dump:application", dir: "testdata/apps",
		args: []string{"--access-logfile", logFile, "--log-format", "json"}})
	environOf := func(header ...string) map[string]any {
		resp, body := s.get(t, "/", header...)
		expectStatus(t, resp, body, 200)
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	if got := environOf("X-Request-ID", "from-client")["HTTP_X_REQUEST_ID"]; got != "from-client" {
		t.Errorf("client's id: environ has %v", got)
	}
	made, _ := environOf()["HTTP_X_REQUEST_ID"].(string)
	if made == "" {
		t.Fatal("no HTTP_X_REQUEST_ID in the environ of a request without one")
	}
	lines := waitFileLines(t, logFile, 2)
	if !strings.Contains(lines[1], `"request_id":"`+made+`"`) {
		t.Errorf("the access log does not name the id the app saw (%s):\n%s", made, lines[1])
	}

	t.Run("OtherHeader", func(t *testing.T) {
		s := startServer(t, serverOptions{app: "environ_dump:application", dir: "testdata/apps",
			args: []string{"--request-id-header", "X-Correlation-ID"}})
		resp, body := s.get(t, "/", "X-Correlation-ID", "corr-1")
		expectStatus(t, resp, body, 200)
		var env map[string]any
		_ = json.Unmarshal(body, &env)
		if env["HTTP_X_CORRELATION_ID"] != "corr-1" {
			t.Errorf("HTTP_X_CORRELATION_ID = %v", env["HTTP_X_CORRELATION_ID"])
		}
	})
}

// Relative path settings name files in the directory gowsgi started in,
// with --chdir too: the pid file, both logs (also as SIGUSR1 reopens
// them) and a unix socket, which are removed from there at exit.
func TestRelativePathsAreFromTheStartDirectory(t *testing.T) {
	start := t.TempDir()
	in := func(name string) string { return filepath.Join(start, name) }
	misplaced := []string{"acc.log", "err.log", "g.pid", "s.sock"}
	t.Cleanup(func() { // a regression must not leave files in the repo
		for _, f := range misplaced {
			os.Remove(filepath.Join(repoRoot, "testdata", "apps", f))
		}
	})
	s := startServerLoggingTo(t, serverOptions{app: "hello:application", dir: "testdata/apps", cwd: start,
		args: []string{"-b", "unix:s.sock", "--pid", "g.pid", "--access-logfile", "acc.log"}}, "err.log")
	resp, body := s.get(t, "/")
	expectStatus(t, resp, body, 200)
	waitFileLines(t, in("acc.log"), 1)
	for _, f := range []string{"g.pid", "s.sock"} {
		if _, err := os.Stat(in(f)); err != nil {
			t.Errorf("%s is not in the start directory: %v", f, err)
		}
	}
	for _, f := range misplaced {
		if _, err := os.Stat(filepath.Join(repoRoot, "testdata", "apps", f)); err == nil {
			t.Errorf("%s was made in the --chdir directory", f)
		}
	}
	if err := os.Rename(in("err.log"), in("err.log.1")); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(in("err.log")); err != nil; _, err = os.Stat(in("err.log")) {
		if time.Now().After(deadline) {
			t.Fatalf("the error log was not reopened in the start directory after SIGUSR1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	for _, f := range []string{"g.pid", "s.sock"} {
		if _, err := os.Stat(in(f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the start directory at exit (%v)", f, err)
		}
	}
}

// SIGUSR1 reopens both log files after logrotate moved them.
func TestOpsUSR1ReopensBothLogs(t *testing.T) {
	dir := t.TempDir()
	accessFile, errorFile := filepath.Join(dir, "access.log"), filepath.Join(dir, "error.log")
	s := startServerLoggingTo(t, serverOptions{app: "errors:application", dir: "testdata/apps",
		args: []string{"--access-logfile", accessFile}}, errorFile)
	s.get(t, "/ok?rotation=first")
	s.get(t, "/raise-before-start?rotation=first")
	waitFileLines(t, accessFile, 2)
	for _, f := range []string{accessFile, errorFile} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errA := os.Stat(accessFile)
		_, errE := os.Stat(errorFile)
		if errA == nil && errE == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log files not reopened within 10 s of USR1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.get(t, "/ok?rotation=second")
	s.get(t, "/raise-before-start?rotation=second")
	waitFileLines(t, accessFile, 2)
	oldAccess, _ := os.ReadFile(accessFile + ".1")
	oldError, _ := os.ReadFile(errorFile + ".1")
	newAccess, _ := os.ReadFile(accessFile)
	newError, _ := os.ReadFile(errorFile)
	if !strings.Contains(string(oldAccess), "/ok?rotation=first") || strings.Contains(string(oldAccess), "second") {
		t.Errorf("rotated access log:\n%s", oldAccess)
	}
	if !strings.Contains(string(newAccess), "/ok?rotation=second") || strings.Contains(string(newAccess), "first") {
		t.Errorf("new access log:\n%s", newAccess)
	}
	// gowsgi's own 500 page counts its bytes, as the app's bodies do.
	if !strings.Contains(string(newAccess), `"GET /raise-before-start?rotation=second HTTP/1.1" 500 21 `) {
		t.Errorf("the 500 line does not count the page's 21 bytes:\n%s", newAccess)
	}
	if !strings.Contains(string(oldError), "raise-before-start?rotation=first") || strings.Contains(string(oldError), "?rotation=second") {
		t.Errorf("rotated error log:\n%s", oldError)
	}
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(string(newError), "raise-before-start?rotation=second") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		newError, _ = os.ReadFile(errorFile)
	}
	if !strings.Contains(string(newError), "raise-before-start?rotation=second") || strings.Contains(string(newError), "?rotation=first") {
		t.Errorf("new error log:\n%s", newError)
	}
	// Text mode: the traceback is one record, its lines after the first.
	if !regexp.MustCompile(`\[ERROR\] Error handling request GET /raise-before-start\?rotation=second \(request id [0-9a-f-]+\)\nTraceback`).Match(newError) {
		t.Errorf("the text traceback record does not read as one record:\n%s", newError)
	}
}

// startServerLoggingTo is startServer for a server whose --error-logfile
// is errorFile: its Listening line is read from that file.
func startServerLoggingTo(t *testing.T, o serverOptions, errorFile string) *testServer {
	t.Helper()
	requireVenv(t)
	args := []string{"run", "-b", "127.0.0.1:0", "--virtualenv", testVenv, "--error-logfile", errorFile}
	if o.dir != "" {
		args = append(args, "--chdir", filepath.Join(repoRoot, o.dir))
	}
	args = append(append(args, o.args...), o.app)
	s := &testServer{cmd: exec.Command(gowsgiBin, args...), stderr: &syncBuffer{}, stdout: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	s.cmd.Dir = o.cwd
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(o.cwd, errorFile)) // a relative one is gowsgi's
		if m := listeningLine.FindSubmatch(data); m != nil {
			s.addr = strings.TrimPrefix(string(m[1]), "http://")
			s.url = "http://" + s.addr
			return s
		}
		select {
		case <-s.exited:
			t.Fatalf("gowsgi exited before listening:\n%s\n%s", data, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gowsgi did not listen within 60 s:\n%s", data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
