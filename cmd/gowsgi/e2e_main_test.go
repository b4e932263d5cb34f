package main

// End-to-end harness: the gowsgi binary is built once per `go test` run and
// every test drives it as a subprocess on 127.0.0.1:0 with the apps under
// testdata/. The Python packages (Flask, Django) come from the venv named
// by GOWSGI_TEST_VENV, which `make test` creates; without it the tests
// that need it skip.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	gowsgiBin string // the binary under test
	testVenv  string // absolute venv path, "" when absent
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	testVenv = os.Getenv("GOWSGI_TEST_VENV")
	// Not a setting: the servers the tests start would warn about it.
	os.Unsetenv("GOWSGI_TEST_VENV")
	if testVenv == "" {
		if _, err := os.Stat(filepath.Join(root, ".venv", "bin", "python")); err == nil {
			testVenv = filepath.Join(root, ".venv")
		}
	}
	dir, err := os.MkdirTemp("", "gowsgi-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	gowsgiBin = filepath.Join(dir, "gowsgi")
	build := exec.Command("go", "build", "-o", gowsgiBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build gowsgi for the end-to-end tests: %v\n", err)
		return 1
	}
	return m.Run()
}

// requireVenv skips a test that needs the test venv's packages.
func requireVenv(t *testing.T) {
	t.Helper()
	if testVenv == "" {
		t.Skip("no test venv: run `make test` (or set GOWSGI_TEST_VENV)")
	}
}

// syncBuffer collects a subprocess's output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverOptions say how to start one gowsgi.
type serverOptions struct {
	app  string   // APP argument
	dir  string   // --chdir, relative to the repo root
	args []string // more flags
	env  []string // extra KEY=VALUE
	// runUnder is a command line gowsgi runs under (e.g. chrt), if any.
	runUnder []string
	// cwd is the directory gowsgi starts in (startServerLoggingTo only);
	// "" is the test's.
	cwd string
}

// testServer is a running gowsgi subprocess.
type testServer struct {
	cmd    *exec.Cmd
	addr   string // host:port
	url    string // http://host:port
	stderr *syncBuffer
	stdout *syncBuffer
	exited chan struct{}
}

var listeningLine = regexp.MustCompile(`Listening at: (\S+)`)

// startServer starts gowsgi and waits until it listens; it is stopped with
// SIGTERM (then SIGKILL) when the test ends.
func startServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	requireVenv(t)
	args := []string{"run", "-b", "127.0.0.1:0", "--virtualenv", testVenv}
	if o.dir != "" {
		args = append(args, "--chdir", filepath.Join(repoRoot, o.dir))
	}
	args = append(args, o.args...)
	args = append(args, o.app)
	argv := append(append(slices.Clone(o.runUnder), gowsgiBin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	s, listens := launchServer(t, cmd, 1)
	s.addr = strings.TrimPrefix(listens[0], "http://")
	s.url = "http://" + s.addr
	return s
}

// launchServer starts a prepared gowsgi command, copies its stderr into
// the server's log and waits for want "Listening at:" lines, which it
// returns as logged (http://h:p, https://h:p, unix:/path). The server is
// stopped when the test ends.
func launchServer(t *testing.T, cmd *exec.Cmd, want int) (*testServer, []string) {
	t.Helper()
	s := &testServer{cmd: cmd, stderr: &syncBuffer{}, stdout: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd.Stdout = s.stdout
	pr, pw := io.Pipe()
	s.cmd.Stderr = pw
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start gowsgi: %v", err)
	}
	found := make(chan []string, 1)
	go func() {
		var seen []string
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.stderr.Write([]byte(line + "\n"))
			if m := listeningLine.FindStringSubmatch(line); m != nil {
				seen = append(seen, m[1])
				if len(seen) == want {
					found <- slices.Clone(seen)
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = s.cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	t.Cleanup(func() { s.stop(t) })
	select {
	case listens := <-found:
		return s, listens
	case <-s.exited:
		t.Fatalf("gowsgi %v exited before listening:\n%s", s.cmd.Args[1:], s.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("gowsgi %v did not log %d Listening lines within 60s:\n%s", s.cmd.Args[1:], want, s.stderr.String())
	}
	return nil, nil
}

// stop ends the server gracefully, killing it if it does not exit.
func (s *testServer) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("gowsgi did not stop within 15s of SIGTERM:\n%s", s.stderr.String())
	}
}

// waitExit waits for the process to end and returns its exit code.
func (s *testServer) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("gowsgi still running after %s", within)
		return -1
	}
}

// waitLog waits until the error log contains want.
func (s *testServer) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(s.stderr.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("error log never contained %q:\n%s", want, s.stderr.String())
}

var testClient = &http.Client{
	Timeout: 60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// do sends a request and returns the response with its whole body.
func (s *testServer) do(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := newTestRequest(method, s.url+path, body, header...)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\nserver log:\n%s", method, path, err, s.stderr.String())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, data
}

// newTestRequest builds a request with header pairs; a "Host" pair sets
// the request's Host.
func newTestRequest(method, url string, body io.Reader, header ...string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	return req, nil
}

// get is do for a GET without a body.
func (s *testServer) get(t *testing.T, path string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil, header...)
}

// expectStatus fails the test unless resp has the given status.
func expectStatus(t *testing.T, resp *http.Response, body []byte, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %.300q", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}
