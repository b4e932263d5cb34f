package main

// Faults: clients that leave at the worst moment, apps that fail in ways
// PEP 3333 does not plan for, a C extension that crashes, and thousands of
// idle connections. After each one a normal request must succeed and the
// server's open file descriptors must come back to where they were.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// faultsApp wraps errors.py (found through --pythonpath testdata/apps) with
// the faults that app has no route for.
const faultsApp = `import ctypes
import gc
import errors


class IterRaises:
    """A response whose __iter__ itself raises (not its first item)."""

    def __iter__(self):
        raise RuntimeError("__iter__ failed on purpose")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/memory-error":
        # A real allocation failure, not just "raise MemoryError".
        bytearray(1 << 60)
    if path == "/memory-error-mid":
        def gen():
            yield b"part"
            raise MemoryError("out of memory while streaming")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV inside C
    if path == "/iter-raises":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return IterRaises()
    if path == "/gc-objects":
        gc.collect()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(len(gc.get_objects())).encode()]
    return errors.application(environ, start_response)
`

// startFaultsApp serves faultsApp from a temp dir.
func startFaultsApp(t *testing.T, args ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "faults_app.py"), []byte(faultsApp), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--chdir", dir, "--pythonpath", filepath.Join(repoRoot, "testdata", "apps")}, args...)
	return startServer(t, serverOptions{app: "faults_app:application", args: args})
}

// faultFDSlack is how many more descriptors than before a fault the server may
// keep (Python opening a module or a temp file lazily).
const faultFDSlack = 4

// faultObjectSlack is how many more gc-tracked Python objects than before a
// fault the app may hold (caches warming up, a traceback's linecache).
const faultObjectSlack = 100

// faultGoroutineSlack is how many more goroutines than before a fault the
// server may run: the test client's keep-alive connections come and go.
const faultGoroutineSlack = 8

// faultBaseline is what must not grow across a fault.
type faultBaseline struct {
	fds        int
	objects    int    // len(gc.get_objects()) after gc.collect()
	opsURL     string // with --metrics-bind: where go_goroutines is read
	goroutines int
}

func takeFaultBaseline(t *testing.T, s *testServer) faultBaseline {
	t.Helper()
	b := faultBaseline{fds: hardFDs(t, s.cmd.Process.Pid), objects: pythonObjects(t, s)}
	if metricsLine.MatchString(s.stderr.String()) {
		b.opsURL = opsURL(t, s)
		b.goroutines = goroutines(t, b.opsURL)
	}
	return b
}

// goroutines reads the server's go_goroutines gauge.
func goroutines(t *testing.T, opsURL string) int {
	t.Helper()
	return int(scrape(t, opsURL).metric(t, "go_goroutines").GetGauge().GetValue())
}

// pythonObjects asks the app for its count of gc-tracked objects.
func pythonObjects(t *testing.T, s *testServer) int {
	t.Helper()
	resp, body := s.get(t, "/gc-objects")
	expectStatus(t, resp, body, 200)
	n, err := strconv.Atoi(string(body))
	if err != nil {
		t.Fatalf("/gc-objects: %q", body)
	}
	return n
}

// afterFault runs a normal request, which must succeed, then waits for the
// server's descriptor and Python object counts to come back to the
// baseline plus their slack.
func afterFault(t *testing.T, s *testServer, before faultBaseline) {
	t.Helper()
	resp, body := s.get(t, "/ok")
	expectStatus(t, resp, body, 200)
	if string(body) != "ok" {
		t.Fatalf("/ok after the fault: %q", body)
	}
	pid := s.cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	n := hardFDs(t, pid)
	for n > before.fds+faultFDSlack && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n = hardFDs(t, pid)
	}
	if n > before.fds+faultFDSlack {
		t.Fatalf("server fds grew from %d to %d (slack %d) and stayed there:\n%s", before.fds, n, faultFDSlack, faultFDList(pid))
	}
	objects := pythonObjects(t, s)
	for objects > before.objects+faultObjectSlack && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		objects = pythonObjects(t, s)
	}
	if objects > before.objects+faultObjectSlack {
		t.Fatalf("Python objects grew from %d to %d (slack %d) and stayed there", before.objects, objects, faultObjectSlack)
	}
	if before.opsURL != "" {
		g := goroutines(t, before.opsURL)
		for g > before.goroutines+faultGoroutineSlack && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			g = goroutines(t, before.opsURL)
		}
		if g > before.goroutines+faultGoroutineSlack {
			t.Fatalf("goroutines grew from %d to %d (slack %d) and stayed there", before.goroutines, g, faultGoroutineSlack)
		}
		t.Logf("goroutines: %d before, %d after", before.goroutines, g)
	}
	t.Logf("fds: %d before, %d after; Python objects: %d before, %d after", before.fds, n, before.objects, objects)
}

// faultFDList describes the open descriptors of pid, for a failure message.
func faultFDList(pid int) string {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var b strings.Builder
	for _, e := range ents {
		target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}

// faultDial connects to the server with a deadline.
func faultDial(t *testing.T, s *testServer) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func TestFaults(t *testing.T) {
	s := startFaultsApp(t, "--metrics-bind", "127.0.0.1:0")
	// Warm up every path the faults use, so that lazily opened files
	// (the file_wrapper's temp file, Python modules) are counted in the
	// baseline.
	s.get(t, "/ok")
	s.get(t, "/closed?reset=1")
	s.get(t, "/file-wrapper?size=50000000")
	s.get(t, "/close-raises")
	s.get(t, "/iter-raises")

	fault := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			before := takeFaultBaseline(t, s)
			fn(t)
			afterFault(t, s, before)
		})
	}

	fault("disconnect-while-sending-headers", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			c := faultDial(t, s)
			io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: x\r\nX-Partial: abc")
			c.Close()
		}
	})

	fault("disconnect-mid-upload", func(t *testing.T) {
		// 1 MB of a declared 10 MB, then gone. The body streams through
		// wsgi.input (it is over 64 KiB), so the app is running when the
		// client leaves.
		for i := 0; i < 3; i++ {
			c := faultDial(t, s)
			fmt.Fprintf(c, "POST /input?mode=read-n HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 10<<20)
			block := strings.Repeat("u", 64<<10)
			for sent := 0; sent < 1<<20; sent += len(block) {
				if _, err := io.WriteString(c, block); err != nil {
					t.Fatalf("upload: %v", err)
				}
			}
			c.Close()
		}
		// Wait until the app has seen all three leave.
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.stderr.String(), "/input") < 3 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})

	fault("disconnect-mid-stream", func(t *testing.T) {
		s.get(t, "/closed?reset=1")
		c := faultDial(t, s)
		io.WriteString(c, "GET /stream-forever HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := io.ReadFull(c, make([]byte, 256<<10)); err != nil {
			t.Fatalf("read the stream: %v", err)
		}
		c.Close()
		waitClosed(t, s, "/stream-forever")
	})

	fault("disconnect-during-file-wrapper", func(t *testing.T) {
		s.get(t, "/closed?reset=1")
		c := faultDial(t, s)
		io.WriteString(c, "GET /file-wrapper?size=50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || resp.ContentLength != 50000000 {
			t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		waitClosed(t, s, "/file-wrapper")
	})

	fault("close-raises", func(t *testing.T) {
		resp, body := s.get(t, "/close-raises")
		expectStatus(t, resp, body, 200)
		if string(body) != "fine" {
			t.Fatalf("body %q", body)
		}
		s.waitLog(t, "close() failed on purpose")
	})

	fault("iter-raises", func(t *testing.T) {
		resp, body := s.get(t, "/iter-raises")
		expectStatus(t, resp, body, 500)
		s.waitLog(t, "__iter__ failed on purpose")
	})

	fault("memory-error", func(t *testing.T) {
		resp, body := s.get(t, "/memory-error")
		expectStatus(t, resp, body, 500)
		s.waitLog(t, "MemoryError")
	})

	fault("memory-error-after-headers", func(t *testing.T) {
		c := faultDial(t, s)
		defer c.Close()
		io.WriteString(c, "GET /memory-error-mid HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "part" || err == nil {
			t.Fatalf("want 200, body \"part\" then a cut connection; got %d %q err %v", resp.StatusCode, body, err)
		}
	})

	fault("big-response-headers", func(t *testing.T) {
		// ~1 MB of headers: sent whole, or refused with a 500; never a
		// crash or a half-written head.
		for i := 0; i < 3; i++ {
			res := hardExchange(t, s.addr, []byte("GET /big-headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), hardOptions{timeout: 10 * time.Second, max: 1})
			if len(res.resps) != 1 {
				t.Fatalf("no whole response: %s\nlog:\n%s", res, hardTail(s.stderr.String(), 2000))
			}
			r := res.resps[0]
			switch r.status {
			case 200:
				n := 0
				for k, v := range r.header {
					if strings.HasPrefix(k, "X-Big-") && len(v) == 1 && len(v[0]) == 1000 {
						n++
					}
				}
				if n != 1000 || string(r.body) != "big" {
					t.Fatalf("200 with %d of 1000 big headers, body %q", n, r.body)
				}
			case 500:
				t.Logf("refused with 500")
			default:
				t.Fatalf("status %d", r.status)
			}
		}
	})

	// Everything the app was asked to close was closed exactly once.
	for _, p := range closedPaths(t, s) {
		if p == "/stream-forever" || p == "/file-wrapper" || p == "/ok" || p == "/closed" || p == "/big-headers" || p == "/input" || p == "/memory-error-mid" {
			continue
		}
		t.Errorf("unexpected close() record %q", p)
	}
}

// TestFaultsSegfault: a C extension that crashes takes the single process
// down; it must die (not hang) and leave a trace.
func TestFaultsSegfault(t *testing.T) {
	s := startFaultsApp(t)
	res := hardExchange(t, s.addr, []byte("GET /segfault HTTP/1.1\r\nHost: x\r\n\r\n"), hardOptions{timeout: 10 * time.Second, max: 1})
	if len(res.resps) > 0 {
		t.Errorf("a response came back from a crashed process: %s", res)
	}
	code := s.waitExit(t, 15*time.Second)
	ws, _ := s.cmd.ProcessState.Sys().(syscall.WaitStatus)
	log := s.stderr.String()
	t.Logf("exit code %d, wait status %v; log (%d bytes) starts:\n%s", code, ws, len(log), hardHead(log, 1500))
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGSEGV:
	case code != 0 && (strings.Contains(log, "SIGSEGV") || strings.Contains(log, "segmentation")):
	default:
		t.Fatalf("process ended with code %d (%v) and no SIGSEGV in its log", code, ws)
	}
	if code == 0 {
		t.Fatalf("exit code 0 after a crash")
	}
	expectCrashReport(t, log)
}

// expectCrashReport: the log of a crash in the app names the request in
// flight and carries the Python traceback of the crashing line.
func expectCrashReport(t *testing.T, log string) {
	t.Helper()
	if !strings.Contains(log, `[CRITICAL] fatal SIGSEGV in the app (a C extension?) while serving "GET /segfault"`) {
		t.Errorf("the crash log does not name the request GET /segfault:\n%s", hardHead(log, 3000))
	}
	if !regexp.MustCompile(`File ".*faults_app.py", line \d+ in application`).MatchString(log) {
		t.Errorf("the crash log has no Python traceback through faults_app.py:\n%s", hardHead(log, 3000))
	}
}

// TestFaultsSegfaultWorker: with a master, a worker that crashes is
// replaced, the crash log names the request, and the next request is
// served by the new worker.
func TestFaultsSegfaultWorker(t *testing.T) {
	s := startFaultsApp(t, "--workers", "1", "--timeout", "30")
	s.get(t, "/ok")
	res := hardExchange(t, s.addr, []byte("GET /segfault HTTP/1.1\r\nHost: x\r\n\r\n"), hardOptions{timeout: 10 * time.Second, max: 1})
	if len(res.resps) > 0 {
		t.Errorf("a response came back from a crashed worker: %s", res)
	}
	s.waitLog(t, "died: ")
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := newTestRequest("GET", s.url+"/ok", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := testClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(body) == "ok" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker served /ok within 15 s of the crash (last error %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	expectCrashReport(t, s.stderr.String())
}

// TestFaultsManyIdleConnections: 5,000 idle connections (half of them
// stuck in the middle of a request head) must not keep a new client from
// being served within a second.
func TestFaultsManyIdleConnections(t *testing.T) {
	const idle = 5000
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// The client side holds idle fds too, and the server (which inherits
	// this limit) as many again.
	if need := uint64(2*idle + 512); lim.Cur < need {
		if lim.Max < need {
			t.Skipf("RLIMIT_NOFILE hard limit %d < %d", lim.Max, need)
		}
		orig := lim
		lim.Cur = need
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Skipf("raise RLIMIT_NOFILE: %v", err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	}
	s := startFaultsApp(t)
	pid := s.cmd.Process.Pid
	s.get(t, "/ok")
	baseline := takeFaultBaseline(t, s)
	before := baseline.fds

	conns := make([]net.Conn, 0, idle)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < idle; i++ {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i%2 == 1 {
			io.WriteString(c, "GET /ok HTTP/1.1\r\nHost: x\r\n") // head never ends
		}
		conns = append(conns, c)
	}
	// Let the server accept them all.
	deadline := time.Now().Add(10 * time.Second)
	for hardFDs(t, pid) < before+idle-10 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	held := hardFDs(t, pid)
	t.Logf("server fds: %d before, %d with %d idle connections", before, held, idle)

	for i := 0; i < 3; i++ {
		start := time.Now()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(s.url + "/ok")
		if err != nil {
			t.Fatalf("new client with %d idle connections: %v", idle, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		if took > time.Second {
			t.Fatalf("new client served in %s with %d idle connections, want under 1s", took, idle)
		}
		t.Logf("new client served in %s", took)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	afterFault(t, s, baseline)
}

// hardHead returns the first n bytes of s.
func hardHead(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
