package main

// The multi-process worker mode (DESIGN.md §5): a Go-only master opens the
// listeners and starts N workers (its own binary, re-executed, listeners
// inherited). It replaces a worker that dies, kills one that hangs past
// --timeout, recycles after --max-requests, reloads on HUP without refusing
// or dropping a request, and adds or removes one worker on TTIN/TTOU. Also
// --request-timeout (a 504, in the single-process mode) and --pid.
//
// Also INT/QUIT (fast stop), USR1 (workers reopen the access log),
// --worker-lifetime, and GOWSGI_* for the new flags.
//
// Every test serves its own copy of testdata/apps/workers_app.py and puts a
// unique marker in the server's environment. After the test, no process
// holding that marker (or seen as a worker) may remain: workers must never
// outlive their master. Loads run on fresh connections (each request is a
// new accept, so a drop shows) and on keep-alive ones (Go's client retries
// an idempotent request whose reused connection the server closed; the
// retries are counted and logged). E2E_WORKERS_LOG=1 logs every server log.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// workersMarkEnv is set, with a value unique to the test, in the
// environment of every server these tests start.
const workersMarkEnv = "E2E_WORKERS_MARK"

var bootingLine = regexp.MustCompile(`Booting worker with pid: (\d+)`)

// ---- processes, from /proc ----

// procEntry is one process as /proc shows it.
type procEntry struct {
	pid, ppid int
	state     string // R, S, D, Z, …
	cmdline   string // NUL-separated, as in /proc
}

func readProc(pid int) (procEntry, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procEntry{}, false
	}
	e := procEntry{pid: pid}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "PPid:"); ok {
			e.ppid, _ = strconv.Atoi(strings.TrimSpace(v))
		} else if v, ok := strings.CutPrefix(line, "State:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				e.state = f[0]
			}
		}
	}
	cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	e.cmdline = string(cmd)
	return e, true
}

// alive is false for a zombie: it has exited, only its entry is left.
func (e procEntry) alive() bool { return e.state != "Z" && e.state != "X" }

// argv0 is the process's argv[0].
func (e procEntry) argv0() string {
	a, _, _ := strings.Cut(e.cmdline, "\x00")
	return a
}

func allProcs() []procEntry {
	ents, _ := os.ReadDir("/proc")
	var out []procEntry
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if e, ok := readProc(pid); ok {
			out = append(out, e)
		}
	}
	return out
}

// liveChildren returns the live processes whose parent is ppid, by pid.
func liveChildren(ppid int) []procEntry {
	var out []procEntry
	for _, e := range allProcs() {
		if e.ppid == ppid && e.alive() {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

func pidsOf(es []procEntry) []int {
	out := make([]int, len(es))
	for i, e := range es {
		out[i] = e.pid
	}
	return out
}

// threadWaits lists the kernel functions the process's threads wait in
// (e.g. inet_csk_accept: a blocking accept(2)).
func threadWaits(pid int) string {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	count := map[string]int{}
	for _, task := range tasks {
		w, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", pid, task.Name()))
		if err == nil && len(w) > 0 {
			count[string(w)]++
		}
	}
	var parts []string
	for w, n := range count {
		parts = append(parts, fmt.Sprintf("%s×%d", w, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// listenerFdinfo returns the /proc fdinfo path of pid's listening TCP
// socket on addr (host:port).
func listenerFdinfo(t *testing.T, pid int, addr string) string {
	t.Helper()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	inode := ""
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) && f[3] == "0A" { // 0A: LISTEN
			inode = f[9]
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); inode != "" && target == "socket:["+inode+"]" {
			return fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name())
		}
	}
	t.Fatalf("no listening socket on %s (inode %q) among the fds of %d", addr, inode, pid)
	return ""
}

// nonBlocking reads O_NONBLOCK from an fdinfo file (true when unreadable).
func nonBlocking(fdinfo string) bool {
	data, err := os.ReadFile(fdinfo)
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err != nil || flags&syscall.O_NONBLOCK != 0
		}
	}
	return true
}

// hasMark says whether the process's environment holds the test's marker.
func hasMark(pid int, mark string) bool {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return err == nil && strings.Contains(string(env), workersMarkEnv+"="+mark+"\x00")
}

// ---- a server with workers ----

// workersServer is a gowsgi serving a private copy of workers_app.
type workersServer struct {
	*testServer
	dir    string // the app copy (--chdir)
	mark   string
	master int

	mu      sync.Mutex
	known   map[int]bool // every worker pid seen
	orphans []procEntry  // killed by the watchdog
}

// writeWorkersApp writes workers_app.py into dir with VERSION = version.
// The first copy is dated an hour back and __pycache__ is removed, so that
// an edit made within the same second is never hidden by a stale .pyc (the
// .pyc records the source's mtime in whole seconds and its size).
func writeWorkersApp(t *testing.T, dir, version string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(repoRoot, "testdata", "apps", "workers_app.py"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), `VERSION = "1"`, fmt.Sprintf("VERSION = %q", version), 1)
	if version != "1" && text == string(src) {
		t.Fatal(`workers_app.py has no line VERSION = "1"`)
	}
	path := filepath.Join(dir, "workers_app.py")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(dir, "__pycache__"))
	stamp := time.Now()
	if version == "1" {
		stamp = stamp.Add(-time.Hour) // the first copy: edits get a later mtime
	}
	if err := os.Chtimes(path, stamp, stamp); err != nil {
		t.Fatal(err)
	}
}

// newWorkersDir makes the app copy and the marker, and registers (first,
// so that it runs last, after startServer's stop) the check that no process
// of this test outlives it.
func newWorkersDir(t *testing.T) (dir, mark string, ws *workersServer) {
	t.Helper()
	requireVenv(t)
	dir = t.TempDir()
	writeWorkersApp(t, dir, "1")
	mark = fmt.Sprintf("%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
	ws = &workersServer{dir: dir, mark: mark, known: map[int]bool{}}
	t.Cleanup(func() { ws.expectNoneLeft(t) })
	return dir, mark, ws
}

// startWorkers serves the app copy with the given flags.
func startWorkers(t *testing.T, args ...string) *workersServer {
	t.Helper()
	dir, mark, ws := newWorkersDir(t)
	ws.testServer = startServer(t, serverOptions{
		app:  "workers_app:application",
		args: append([]string{"--chdir", dir}, args...),
		// GOTRACEBACK: a worker that crashes or gets SIGABRT shows every
		// goroutine.
		env: []string{workersMarkEnv + "=" + mark, "GOTRACEBACK=all"},
	})
	ws.master = ws.cmd.Process.Pid
	// Runs before startServer's stop: note the workers still running and
	// stop the master (bounded; the harness would wait 15 s).
	t.Cleanup(func() {
		ws.noteChildren()
		go ws.watchdog()
		ws.terminate(t, 8*time.Second)
	})
	return ws
}

// terminate sends TERM to a master still running and expects it to exit 0
// within limit (nothing is in flight when a test ends). Otherwise it names
// the workers still there and kills them (by pid), so that the master can
// end.
func (ws *workersServer) terminate(t *testing.T, limit time.Duration) {
	select {
	case <-ws.exited:
		return
	default:
	}
	_ = ws.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ws.exited:
		if code := ws.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code %d after TERM, want 0:\n%s", code, ws.stderr.String())
		}
		return
	case <-time.After(limit):
	}
	var stuck []string
	for _, e := range liveChildren(ws.master) {
		stuck = append(stuck, fmt.Sprintf("%d (threads waiting in %s)", e.pid, threadWaits(e.pid)))
		ws.note(e.pid)
		if hasMark(e.pid, ws.mark) {
			_ = syscall.Kill(e.pid, syscall.SIGKILL)
		}
	}
	t.Errorf("the master did not exit within %s of TERM with nothing in flight; workers still running (now killed): %v\n%s", limit, stuck, ws.stderr.String())
}

// watchdog ends the workers of a master that is gone while they still
// hold its stderr pipe: exec.Cmd.Wait waits for every writer of that pipe,
// so without this the harness's stop would hang for ever. What it kills is
// reported by expectNoneLeft.
func (ws *workersServer) watchdog() {
	var goneSince time.Time
	for {
		select {
		case <-ws.exited:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if e, ok := readProc(ws.master); ok && e.alive() {
			continue
		}
		if goneSince.IsZero() {
			goneSince = time.Now()
		}
		if time.Since(goneSince) < 2*time.Second {
			continue
		}
		for _, e := range ws.leftovers(ws.stderr.String()) {
			ws.mu.Lock()
			ws.orphans = append(ws.orphans, e)
			ws.mu.Unlock()
			_ = syscall.Kill(e.pid, syscall.SIGKILL)
		}
	}
}

func (ws *workersServer) note(pids ...int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, p := range pids {
		ws.known[p] = true
	}
}

// noteChildren records the master's live children and returns them.
func (ws *workersServer) noteChildren() []int {
	pids := pidsOf(liveChildren(ws.master))
	ws.note(pids...)
	return pids
}

// suspects returns the pids that may belong to this test: those seen as
// workers, those the log says were booted, and any process carrying the
// marker in its environment.
func (ws *workersServer) suspects(log string) []int {
	set := map[int]bool{}
	ws.mu.Lock()
	for p := range ws.known {
		set[p] = true
	}
	ws.mu.Unlock()
	for _, m := range bootingLine.FindAllStringSubmatch(log, -1) {
		if p, err := strconv.Atoi(m[1]); err == nil {
			set[p] = true
		}
	}
	for _, e := range allProcs() {
		if e.pid != os.Getpid() && (hasMark(e.pid, ws.mark) || strings.Contains(e.cmdline, ws.dir)) {
			set[e.pid] = true
		}
	}
	var out []int
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

// leftovers returns the suspects still alive that are certainly ours (a
// recorded pid may have been reused by an unrelated process).
func (ws *workersServer) leftovers(log string) []procEntry {
	var out []procEntry
	for _, p := range ws.suspects(log) {
		e, ok := readProc(p)
		if !ok || !e.alive() {
			continue
		}
		if hasMark(p, ws.mark) || strings.Contains(e.cmdline, ws.dir) || strings.HasPrefix(e.cmdline, "gowsgi") || strings.Contains(e.argv0(), "gowsgi") {
			out = append(out, e)
		}
	}
	return out
}

// expectNoneLeft runs after the master has been stopped: within 5 s no
// process of this test may be left. Any that is gets SIGKILL (by pid).
func (ws *workersServer) expectNoneLeft(t *testing.T) {
	var log string
	if ws.testServer != nil {
		select {
		case <-ws.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("master %d still running at the leak check", ws.master)
			return
		}
		log = ws.stderr.String()
	}
	ws.mu.Lock()
	for _, e := range ws.orphans {
		t.Errorf("process %d (parent %d, %q) outlived its master and held its stderr open; killed", e.pid, e.ppid, e.cmdline)
	}
	if len(ws.orphans) > 0 || t.Failed() || os.Getenv("E2E_WORKERS_LOG") != "" {
		t.Logf("the whole log:\n%s", log)
	}
	ws.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	var left []procEntry
	for {
		left = ws.leftovers(log)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, e := range left {
		t.Errorf("process %d (parent %d, state %s, cmdline %q) outlived its master by 5 s", e.pid, e.ppid, e.state, e.cmdline)
		_ = syscall.Kill(e.pid, syscall.SIGKILL)
	}
}

// waitChildren waits until the master has exactly n live children and
// returns their pids.
func (ws *workersServer) waitChildren(t *testing.T, n int, within time.Duration) []int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		pids := ws.noteChildren()
		if len(pids) == n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("master %d has %d live children %v, want %d, after %s\n%s", ws.master, len(pids), pids, n, within, ws.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- requests ----

// freshClient opens a new connection for every request.
func freshClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// keepAliveClient keeps (at most) one connection, so that it stays with the
// worker that accepted it.
func keepAliveClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
}

// fetch GETs url and returns the status and the whole body; attempts counts
// the connections the transport used (more than 1: it retried the request).
func fetch(c *http.Client, url string) (status int, body string, attempts int, err error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", 0, err
	}
	var n atomic.Int32
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { n.Add(1) },
	}))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", int(n.Load()), err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data), int(n.Load()), err
}

// getPid asks some worker for its pid on a fresh connection.
func (ws *workersServer) getPid(t *testing.T, c *http.Client) int {
	t.Helper()
	status, body, _, err := fetch(c, ws.url+"/pid")
	if err != nil || status != 200 {
		t.Fatalf("GET /pid: status %d body %q err %v\n%s", status, body, err, ws.stderr.String())
	}
	pid, err := strconv.Atoi(body)
	if err != nil {
		t.Fatalf("GET /pid: body %q", body)
	}
	ws.note(pid)
	return pid
}

// collectPids sends /pid on fresh connections from 4 goroutines until
// the answers came from n distinct pids for which accept(ok) holds.
func (ws *workersServer) collectPids(t *testing.T, n int, within time.Duration, accept func(int) bool) map[int]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[int]int{}
	var lastErr error
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	deadline := time.Now().Add(within)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := freshClient()
			for time.Now().Before(deadline) {
				select {
				case <-done:
					return
				default:
				}
				status, body, _, err := fetch(c, ws.url+"/pid")
				pid, perr := strconv.Atoi(body)
				mu.Lock()
				switch {
				case err != nil:
					lastErr = err
				case status != 200 || perr != nil:
					lastErr = fmt.Errorf("status %d body %q", status, body)
				case accept == nil || accept(pid):
					seen[pid]++
					if len(seen) >= n {
						once.Do(func() { close(done) })
					}
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	for p := range seen {
		ws.note(p)
	}
	if len(seen) < n {
		t.Fatalf("within %s, /pid answered from %d distinct pids %v, want %d (last error: %v)\n%s", within, len(seen), seen, n, lastErr, ws.stderr.String())
	}
	return seen
}

// waitReady waits until n workers run and each has answered a request.
func (ws *workersServer) waitReady(t *testing.T, n int) []int {
	t.Helper()
	ws.waitChildren(t, n, 15*time.Second)
	// The pids that answer /pid, not the master's children at one
	// instant: once (CI, Python 3.12) that count reached n with a
	// short-lived child of the master that was no worker, and the second
	// worker, forked a moment later, was missing from the list.
	seen := ws.collectPids(t, n, 15*time.Second, nil)
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return pids
}

// ---- load ----

// loadFailure is one request of a load that did not get its 200.
type loadFailure struct {
	start, end time.Time
	what       string
}

// load is requests sent from goroutines until a deadline or a total
// count: how many succeeded, with which bodies, and what failed when.
type load struct {
	mu       sync.Mutex
	ok       int
	retried  int // succeeded on a second connection (keep-alive retry)
	failures []loadFailure
	bodies   map[string]int
	wg       sync.WaitGroup
	left     atomic.Int64 // requests left when a total was given
}

// startLoad starts one goroutine per client, each sending GET url, with
// pause between its requests, until duration has passed (duration > 0) or
// total requests were sent in all (total > 0), whichever comes first.
func startLoad(url string, clients []*http.Client, duration time.Duration, total int, pause time.Duration) *load {
	l := &load{bodies: map[string]int{}}
	if total > 0 {
		l.left.Store(int64(total))
	} else {
		l.left.Store(1 << 62)
	}
	var deadline time.Time
	if duration > 0 {
		deadline = time.Now().Add(duration)
	}
	for _, c := range clients {
		l.wg.Add(1)
		go func(c *http.Client) {
			defer l.wg.Done()
			defer c.CloseIdleConnections()
			for {
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				if l.left.Add(-1) < 0 {
					return
				}
				if pause > 0 {
					time.Sleep(pause)
				}
				start := time.Now()
				status, body, attempts, err := fetch(c, url)
				l.mu.Lock()
				switch {
				case err != nil:
					l.failures = append(l.failures, loadFailure{start, time.Now(), err.Error()})
				case status != 200:
					l.failures = append(l.failures, loadFailure{start, time.Now(), fmt.Sprintf("status %d body %.100q", status, body)})
				default:
					l.ok++
					l.bodies[body]++
					if attempts > 1 {
						l.retried++
					}
				}
				l.mu.Unlock()
			}
		}(c)
	}
	return l
}

// wait waits for the load's goroutines to end.
func (l *load) wait() { l.wg.Wait() }

func (l *load) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d ok (%d retried on a new connection), %d failed, %d distinct bodies", l.ok, l.retried, len(l.failures), len(l.bodies))
}

// failuresString lists the failures with their times relative to t0.
func (l *load) failuresString(t0 time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for i, f := range l.failures {
		if i == 20 {
			fmt.Fprintf(&b, "  … %d more\n", len(l.failures)-i)
			break
		}
		fmt.Fprintf(&b, "  [%s → %s] %s\n", f.start.Sub(t0).Round(time.Millisecond), f.end.Sub(t0).Round(time.Millisecond), f.what)
	}
	return b.String()
}

func clientsOf(n int, mk func() *http.Client) []*http.Client {
	out := make([]*http.Client, n)
	for i := range out {
		out[i] = mk()
	}
	return out
}

// logLines returns the log lines that contain every one of want.
func logLines(log string, want ...string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, w := range want {
			if !strings.Contains(line, w) {
				all = false
				break
			}
		}
		if all && line != "" {
			out = append(out, line)
		}
	}
	return out
}

// waitLogLine waits until a log line contains every one of want.
func (ws *workersServer) waitLogLine(t *testing.T, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if lines := logLines(ws.stderr.String(), want...); len(lines) > 0 {
			return lines[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line contains all of %q within %s:\n%s", want, within, ws.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- tests ----

// TestWorkersServeFromDistinctProcesses: 4 workers, each answering from
// its own pid, none the master's; each is a child of the master, named
// "gowsgi: worker", and announced by a "Booting worker with pid" line.
func TestWorkersServeFromDistinctProcesses(t *testing.T) {
	ws := startWorkers(t, "--workers", "4")
	children := ws.waitChildren(t, 4, 15*time.Second)
	seen := ws.collectPids(t, 4, 15*time.Second, nil)
	if len(seen) != 4 {
		t.Errorf("answers came from %d pids %v, want 4", len(seen), seen)
	}
	log := ws.stderr.String()
	if !strings.Contains(log, "Listening at: http://"+ws.addr) {
		t.Errorf("no %q line:\n%s", "Listening at: http://"+ws.addr, log)
	}
	if master, ok := readProc(ws.master); ok && strings.HasPrefix(master.cmdline, "gowsgi: worker") {
		t.Errorf("the master's cmdline is %q: it must not look like a worker", master.cmdline)
	}
	for pid, n := range seen {
		if pid == ws.master {
			t.Errorf("pid %d (the master) answered %d requests: the master must not serve", pid, n)
			continue
		}
		e, ok := readProc(pid)
		if !ok {
			t.Errorf("worker %d is gone", pid)
			continue
		}
		if e.ppid != ws.master {
			t.Errorf("worker %d has parent %d, want the master %d", pid, e.ppid, ws.master)
		}
		if !strings.HasPrefix(e.cmdline, "gowsgi: worker") {
			t.Errorf("worker %d has cmdline %q, want it to start with %q", pid, e.cmdline, "gowsgi: worker")
		}
		// The worker may answer a moment before its line is logged.
		booting := fmt.Sprintf("Booting worker with pid: %d", pid)
		for deadline := time.Now().Add(3 * time.Second); !strings.Contains(ws.stderr.String(), booting); {
			if time.Now().After(deadline) {
				t.Errorf("no %q line in the log:\n%s", booting, ws.stderr.String())
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, pid := range children {
		if seen[pid] == 0 {
			t.Errorf("child %d of the master never answered (answers: %v)", pid, seen)
		}
	}
	t.Logf("requests per worker: %v", seen)
}

// TestWorkersReplaceDeadWorker: a worker killed with SIGKILL, and one that
// calls os._exit(1) mid-request, are each replaced within 1 s while a load
// of fresh and keep-alive connections goes on. No request fails except
// ones that were in the dying worker at that moment.
func TestWorkersReplaceDeadWorker(t *testing.T) {
	ws := startWorkers(t, "--workers", "4")
	all := ws.waitReady(t, 4)

	// waitReplaced waits until the master again has 4 live children, dead
	// not among them, and returns the new pid and how long it took.
	waitReplaced := func(t *testing.T, dead int, before []int, since time.Time) (int, time.Duration) {
		t.Helper()
		old := map[int]bool{}
		for _, p := range before {
			old[p] = true
		}
		deadline := since.Add(5 * time.Second)
		for {
			pids := ws.noteChildren()
			newPid := 0
			deadAlive := false
			for _, p := range pids {
				if p == dead {
					deadAlive = true
				} else if !old[p] {
					newPid = p
				}
			}
			if !deadAlive && len(pids) == 4 && newPid != 0 {
				return newPid, time.Since(since)
			}
			if time.Now().After(deadline) {
				t.Fatalf("5 s after worker %d died the master's children are %v (before: %v)\n%s", dead, pids, before, ws.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("SIGKILL", func(t *testing.T) {
		// Keep-alive clients each hold one connection to one worker; the
		// victim is a worker none of them is on, so they must see no error.
		pinned := clientsOf(3, keepAliveClient)
		pinnedPids := map[int]bool{}
		for _, c := range pinned {
			pinnedPids[ws.getPid(t, c)] = true
		}
		victim := 0
		for _, p := range all {
			if !pinnedPids[p] {
				victim = p
				break
			}
		}
		if victim == 0 {
			t.Fatalf("no worker free of the pinned connections: workers %v, pinned %v", all, pinnedPids)
		}
		t0 := time.Now()
		pinnedLoad := startLoad(ws.url+"/pid", pinned, 2500*time.Millisecond, 0, 0)
		freshLoad := startLoad(ws.url+"/pid", clientsOf(3, freshClient), 2500*time.Millisecond, 0, 0)
		time.Sleep(700 * time.Millisecond)
		before := ws.noteChildren()
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		newPid, took := waitReplaced(t, victim, before, killed)
		pinnedLoad.wait()
		freshLoad.wait()
		t.Logf("worker %d killed at %s, replaced by %d in %s; pinned: %s; fresh: %s",
			victim, killed.Sub(t0).Round(time.Millisecond), newPid, took.Round(time.Millisecond), pinnedLoad, freshLoad)
		if took > time.Second {
			t.Errorf("the replacement of worker %d appeared after %s, want within 1 s", victim, took)
		}
		if len(pinnedLoad.failures) > 0 {
			t.Errorf("keep-alive clients on other workers saw %d failures:\n%s", len(pinnedLoad.failures), pinnedLoad.failuresString(t0))
		}
		checkFreshFailures(t, freshLoad, t0, killed, 3)
		if pinnedLoad.bodies[strconv.Itoa(victim)] > 0 {
			t.Errorf("a pinned client got an answer from the victim %d", victim)
		}
		ws.collectPids(t, 1, 10*time.Second, func(p int) bool { return p == newPid })
		line := ws.waitLogLine(t, 5*time.Second, strconv.Itoa(victim))
		if !regexp.MustCompile(`(?i)kill|signal`).MatchString(strings.Join(logLines(ws.stderr.String(), strconv.Itoa(victim)), "\n")) {
			t.Errorf("no log line names worker %d's death by a signal; first line naming it: %q\n%s", victim, line, ws.stderr.String())
		}
		all = ws.noteChildren()
	})

	t.Run("os._exit", func(t *testing.T) {
		t0 := time.Now()
		freshLoad := startLoad(ws.url+"/pid", clientsOf(3, freshClient), 2500*time.Millisecond, 0, 0)
		time.Sleep(500 * time.Millisecond)
		before := ws.noteChildren()
		status, body, _, err := fetch(freshClient(), ws.url+"/exit")
		died := time.Now()
		if err == nil {
			t.Errorf("GET /exit: status %d body %q; want a connection error (the worker died)", status, body)
		}
		// Which worker ran /exit: the one that is no longer a live child.
		var dead int
		deadline := time.Now().Add(5 * time.Second)
		for dead == 0 {
			live := map[int]bool{}
			for _, p := range pidsOf(liveChildren(ws.master)) {
				live[p] = true
			}
			for _, p := range before {
				if !live[p] {
					dead = p
				}
			}
			if dead == 0 && time.Now().After(deadline) {
				t.Fatalf("no worker among %v died after /exit\n%s", before, ws.stderr.String())
			}
			if dead == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		newPid, took := waitReplaced(t, dead, before, died)
		freshLoad.wait()
		t.Logf("worker %d exited (client error %v), replaced by %d %s after the client saw it; fresh: %s", dead, err, newPid, took.Round(time.Millisecond), freshLoad)
		if took > time.Second {
			t.Errorf("the replacement of worker %d appeared %s after its exit, want within 1 s", dead, took)
		}
		checkFreshFailures(t, freshLoad, t0, died, 3)
		c := freshClient()
		for i := 0; i < 10; i++ {
			ws.getPid(t, c)
		}
		ws.collectPids(t, 1, 10*time.Second, func(p int) bool { return p == newPid })
		ws.waitLogLine(t, 5*time.Second, strconv.Itoa(dead))
	})
}

// checkFreshFailures: a request on a fresh connection may fail only if it
// was in flight when the worker died (at most one per load goroutine);
// any request begun after that must have succeeded.
func checkFreshFailures(t *testing.T, l *load, t0, death time.Time, goroutines int) {
	t.Helper()
	l.mu.Lock()
	var inFlight, after int
	for _, f := range l.failures {
		if f.start.After(death.Add(20 * time.Millisecond)) {
			after++
		} else {
			inFlight++
		}
	}
	l.mu.Unlock()
	if after > 0 || inFlight > goroutines {
		t.Errorf("fresh-connection load: %d failures begun after the death at %s, %d in flight (at most %d allowed):\n%s",
			after, death.Sub(t0).Round(time.Millisecond), inFlight, goroutines, l.failuresString(t0))
	} else if inFlight > 0 {
		t.Logf("fresh-connection load: %d requests in flight in the dying worker failed:\n%s", inFlight, l.failuresString(t0))
	}
}

// runUntilExit runs gowsgi to its end (killing it after within) and
// returns its exit code, stderr and run time.
func runUntilExit(t *testing.T, ws *workersServer, within time.Duration, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(gowsgiBin, args...)
	cmd.Env = append(os.Environ(), workersMarkEnv+"="+ws.mark)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	cmd.Stdout = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(within):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
		log := stderr.String()
		// Let the leak check see the booted workers of the killed master.
		for _, m := range bootingLine.FindAllStringSubmatch(log, -1) {
			if p, err := strconv.Atoi(m[1]); err == nil {
				ws.note(p)
			}
		}
		t.Fatalf("gowsgi still running after %s:\n%s", within, log)
	}
	took := time.Since(start)
	log := stderr.String()
	for _, m := range bootingLine.FindAllStringSubmatch(log, -1) {
		if p, err := strconv.Atoi(m[1]); err == nil {
			ws.note(p)
		}
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), log, took
}

// TestWorkersBrokenAppExitsWithoutRestartLoop: when every worker fails to
// load the app, the master exits with 2 within 10 s, the one-line error
// is on stderr once per worker at most, and no worker is left behind.
func TestWorkersBrokenAppExitsWithoutRestartLoop(t *testing.T) {
	cases := []struct {
		name, app string
		breakApp  bool // append a syntax error to the copy of workers_app
		want      []string
	}{
		{"NoSuchModule", "nosuchmodule:app", false, []string{"nosuchmodule", "ModuleNotFoundError"}},
		{"SyntaxError", "workers_app:application", true, []string{"workers_app.py", "SyntaxError"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _, ws := newWorkersDir(t)
			if c.breakApp {
				f, err := os.OpenFile(filepath.Join(dir, "workers_app.py"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(f, "\ndef broken(:\n    pass")
				f.Close()
			}
			code, log, took := runUntilExit(t, ws, 10*time.Second,
				"run", "-b", "127.0.0.1:0", "--virtualenv", testVenv, "--chdir", dir, "--workers", "2", c.app)
			t.Logf("exit %d after %s; stderr:\n%s", code, took.Round(time.Millisecond), log)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			loads := logLines(log, "gowsgi: cannot load the app: ")
			if len(loads) < 1 || len(loads) > 2 {
				t.Errorf("%d lines with %q, want 1 or 2 (one per worker at most: no restart loop)", len(loads), "cannot load the app")
			}
			// A module that fails while importing gets its traceback after
			// the line; the other errors are the one line.
			if i := strings.Index(log, "gowsgi: cannot load the app: "); i >= 0 {
				for _, w := range c.want {
					if !strings.Contains(log[i:], w) {
						t.Errorf("the load error lacks %q:\n%s", w, log[i:])
					}
				}
			}
			if n := len(bootingLine.FindAllString(log, -1)); n > 2 {
				t.Errorf("%d workers booted for --workers 2: a restart loop", n)
			}
			if strings.Contains(log, "goroutine ") {
				t.Errorf("a Go stack trace leaked:\n%s", log)
			}
		})
	}
}

// TestWorkersReloadOnHUP: under a steady load of keep-alive and fresh
// connections, HUP starts workers with the edited code, the old ones drain
// and stop, and not one request fails.
func TestWorkersReloadOnHUP(t *testing.T) {
	ws := startWorkers(t, "--workers", "2")
	old := ws.waitReady(t, 2)
	if _, body := ws.get(t, "/version"); string(body) != "1" {
		t.Fatalf("/version %q before HUP, want 1", body)
	}
	t0 := time.Now()
	keep := startLoad(ws.url+"/version", clientsOf(8, keepAliveClient), 3500*time.Millisecond, 0, 0)
	fresh := startLoad(ws.url+"/version", clientsOf(2, freshClient), 3500*time.Millisecond, 0, 0)
	time.Sleep(time.Second)
	writeWorkersApp(t, ws.dir, "2")
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	hup := time.Now()
	keep.wait()
	fresh.wait()
	t.Logf("HUP at %s; keep-alive: %s %v; fresh: %s %v", hup.Sub(t0).Round(time.Millisecond), keep, keep.bodies, fresh, fresh.bodies)
	for name, l := range map[string]*load{"keep-alive": keep, "fresh-connection": fresh} {
		if len(l.failures) > 0 {
			t.Errorf("%s clients: %d requests failed across HUP (sent at %s):\n%s", name, len(l.failures), hup.Sub(t0).Round(time.Millisecond), l.failuresString(t0))
		}
		for body := range l.bodies {
			if body != "1" && body != "2" {
				t.Errorf("%s clients: /version answered %q", name, body)
			}
		}
	}
	if keep.bodies["1"]+fresh.bodies["1"] == 0 || keep.bodies["2"]+fresh.bodies["2"] == 0 {
		t.Errorf("versions seen under load: keep-alive %v fresh %v; want both 1 and 2", keep.bodies, fresh.bodies)
	}
	// The old workers drain and stop; two new ones serve version 2.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := ws.noteChildren()
		stale := false
		for _, p := range pids {
			for _, o := range old {
				stale = stale || p == o
			}
		}
		if !stale && len(pids) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after HUP the children are %v (old workers %v), want 2 new ones\n%s", pids, old, ws.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := freshClient()
	for i := 0; i < 20; i++ {
		status, body, _, err := fetch(c, ws.url+"/version")
		if err != nil || status != 200 || body != "2" {
			t.Fatalf("after the reload, /version: status %d body %q err %v", status, body, err)
		}
	}
}

// TestWorkersPartlyFailedReloadKeepsReadyWorkers: when the first new
// worker of a reload becomes ready (retiring an old one) and the second
// then fails to boot, the reload is given up without killing the ready
// one: the fleet stays at its size, and nothing restarts the failing code.
func TestWorkersPartlyFailedReloadKeepsReadyWorkers(t *testing.T) {
	ws := startWorkers(t, "--workers", "2")
	ws.waitReady(t, 2)
	writeWorkersApp(t, ws.dir, "2")
	f, err := os.OpenFile(filepath.Join(ws.dir, "workers_app.py"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first new worker to import takes the token and boots; the next
	// fails, after the first had time to become ready.
	fmt.Fprintln(f, `
try:
    os.close(os.open(os.path.join(os.path.dirname(__file__), "boot-token"), os.O_CREAT | os.O_EXCL))
except FileExistsError:
    time.sleep(2)
    raise RuntimeError("this new worker fails to boot on purpose")`)
	f.Close()
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ws.waitLog(t, "Reload failed")
	failedAt := len(ws.stderr.String())
	time.Sleep(4 * time.Second)
	if after := ws.stderr.String()[failedAt:]; strings.Contains(after, "trying again") {
		t.Errorf("workers were started again after the reload failed:\n%s", after)
	}
	if n := len(liveChildren(ws.master)); n != 2 {
		t.Errorf("%d workers after the failed reload, want 2:\n%s", n, ws.stderr.String())
	}
	c := freshClient()
	for i := 0; i < 10; i++ {
		if status, body, _, err := fetch(c, ws.url+"/version"); err != nil || status != 200 || (body != "1" && body != "2") {
			t.Fatalf("after the failed reload, /version: status %d body %q err %v", status, body, err)
		}
	}
}

// TestWorkersStopWhileLoadingIsQuiet: a Ctrl-C (INT to the master, which
// sends QUIT on) while the workers still import the app ends everything
// at once, without a dump of Go's goroutines from each worker.
func TestWorkersStopWhileLoadingIsQuiet(t *testing.T) {
	t.Setenv("WORKERS_APP_IMPORT_DELAY", "5")
	ws := startWorkers(t, "--workers", "2")
	ws.waitChildren(t, 2, 5*time.Second)
	time.Sleep(time.Second) // the workers are inside the import now
	if err := ws.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ws.waitExit(t, 4*time.Second)
	log := ws.stderr.String()
	if strings.Contains(log, "goroutine ") {
		t.Errorf("a Go goroutine dump on stderr:\n%s", log)
	}
	if !strings.Contains(log, "QUIT while the app loads") {
		t.Errorf("no worker said why it exited:\n%s", log)
	}
}

// TestSingleProcessStopWhileLoading: without a master (a container's
// entrypoint), TERM or INT during a slow import ends the process at once
// with a log line and status 0, not silently by the signal's default, and
// removes its unix socket file and pid file.
func TestSingleProcessStopWhileLoading(t *testing.T) {
	requireVenv(t)
	dir := t.TempDir()
	writeWorkersApp(t, dir, "1")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// Not startServer: a single process binds before the import
			// but says "Listening" only once the app has loaded.
			files := t.TempDir()
			sock, pid := filepath.Join(files, "s.sock"), filepath.Join(files, "s.pid")
			cmd := exec.Command(gowsgiBin, "run", "-b", "127.0.0.1:0", "-b", "unix:"+sock, "--pid", pid, "--virtualenv", testVenv, "--chdir", dir, "workers_app:application")
			cmd.Env = append(os.Environ(), "WORKERS_APP_IMPORT_DELAY=10")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			time.Sleep(1500 * time.Millisecond) // inside the import now
			for _, f := range []string{sock, pid} {
				if _, err := os.Stat(f); err != nil {
					t.Fatalf("%s not made before the import: %v\n%s", f, err, stderr.String())
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("%v; want exit status 0\n%s", err, stderr.String())
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Fatalf("still running 5 s after %s during a 10 s import\n%s", sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "while the app loads; exiting") {
				t.Errorf("no line saying why it exited:\n%s", stderr.String())
			}
			for _, f := range []string{sock, pid} {
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind (%v)", f, err)
				}
			}
		})
	}
}

// TestWorkersReloadRefusedForBadCertificate: a HUP while the certificate
// file does not load (mid-rotation) starts no worker that would fail on
// it; the master says why, and the old workers serve on.
func TestWorkersReloadRefusedForBadCertificate(t *testing.T) {
	p := newFrontPKI(t)
	ws := startWorkers(t, "--workers", "2", "--certfile", p.certFile, "--keyfile", p.keyFile)
	before := ws.waitChildren(t, 2, 15*time.Second)
	sort.Ints(before)
	// What each child was, for the failure message: once (CI, Python
	// 3.12) the second pid here never logged a boot, the master logged
	// no exit for it, and a third worker booted after the HUP.
	var seen []string
	for _, e := range liveChildren(ws.master) {
		seen = append(seen, fmt.Sprintf("%d %s %q", e.pid, e.state, e.argv0()))
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
	get := func() (int, error) {
		resp, err := client.Get("https://" + strings.TrimPrefix(ws.addr, "https://") + "/pid") // addr keeps its https://
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if status, err := get(); status == 200 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("GET /pid over TLS: %d %v\n%s", status, err, ws.stderr.String())
		}
	}
	if err := os.WriteFile(p.certFile, []byte("-----BEGIN CERTIFICATE-----\nhalf written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	line := ws.waitLogLine(t, 10*time.Second, "Reload refused")
	if !strings.Contains(line, p.certFile) {
		t.Errorf("the refusal does not name the certificate file: %s", line)
	}
	time.Sleep(500 * time.Millisecond) // a worker started anyway would be a child now
	if after := ws.noteChildren(); !slices.Equal(slices.Sorted(slices.Values(after)), before) {
		t.Errorf("children %v after the refused reload, want the old workers %v (then: %s)\n%s", after, before, strings.Join(seen, ", "), ws.stderr.String())
	}
	if status, err := get(); status != 200 {
		t.Errorf("GET /pid after the refused reload: %d %v", status, err)
	}
}

// TestWorkersHUPServesOpenConnections: connections already open (accepted
// by the old workers) whose request comes only during the drain. A worker
// may close such an idle connection (the client sees that before it sends
// and can retry elsewhere), but one it keeps open must answer the request
// it then reads, from old or new code.
func TestWorkersHUPServesOpenConnections(t *testing.T) {
	ws := startWorkers(t, "--workers", "2")
	ws.waitReady(t, 2)
	var conns []net.Conn
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", ws.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond) // accepted by the old workers
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ws.waitLogLine(t, 10*time.Second, "finishing in-flight requests")
	time.Sleep(300 * time.Millisecond)
	var got []string
	failed := 0
	closedIdle := 0
	for _, c := range conns {
		// Closed by the server before the request? Then it was never sent.
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			got = append(got, fmt.Sprintf("closed while idle (%v)", err))
			closedIdle++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
			got = append(got, "write: "+err.Error())
			failed++
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got = append(got, "read: "+err.Error())
			failed++
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, body))
		if resp.StatusCode != 200 {
			failed++
		}
	}
	t.Logf("requests sent on connections opened before HUP: %q", got)
	if failed > 0 {
		t.Errorf("%d of %d connections opened before HUP were kept open during the drain, then closed without an answer to the request read on them: %q", failed, len(conns)-closedIdle, got)
	}
}

// TestWorkersGracefulTERM: a request in flight when the master gets TERM
// completes; then the master exits 0 and no worker is left.
func TestWorkersGracefulTERM(t *testing.T) {
	// To the master alone, and to the master and every worker at once, as
	// systemd's KillMode=control-group does: a worker then gets TERM twice,
	// which must not cut its drain short.
	for _, group := range []bool{false, true} {
		t.Run(fmt.Sprintf("whole group %v", group), func(t *testing.T) {
			checkWorkersGracefulTERM(t, group)
		})
	}
}

func checkWorkersGracefulTERM(t *testing.T, group bool) {
	ws := startWorkers(t, "--workers", "2")
	workers := ws.waitReady(t, 2)
	result := make(chan string, 1)
	start := time.Now()
	go func() {
		status, body, _, err := fetch(freshClient(), ws.url+"/sleep?s=2")
		result <- fmt.Sprintf("%d %s %v", status, body, err)
	}()
	time.Sleep(500 * time.Millisecond)
	if group {
		// The workers' own TERM first; the master's, sent on to them,
		// then reaches workers that are already draining.
		for _, p := range workers {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := ws.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := <-result; got != "200 slept <nil>" {
		t.Errorf("the request in flight at TERM got %q, want \"200 slept <nil>\"", got)
	}
	code := ws.waitExit(t, 10*time.Second)
	t.Logf("master exited %d, %s after the request began", code, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Errorf("exit code %d after TERM, want 0:\n%s", code, ws.stderr.String())
	}
	// The master waits for its workers: none may be left once it is gone.
	for _, p := range workers {
		if e, ok := readProc(p); ok && e.alive() {
			t.Errorf("worker %d still running (parent %d, %q) after the master exited", p, e.ppid, e.cmdline)
		}
	}
}

// TestWorkersTTINAndTTOU: TTIN adds a worker, TTOU removes one.
func TestWorkersTTINAndTTOU(t *testing.T) {
	ws := startWorkers(t, "--workers", "2")
	two := ws.waitReady(t, 2)
	if err := ws.cmd.Process.Signal(syscall.SIGTTIN); err != nil {
		t.Fatal(err)
	}
	three := ws.waitChildren(t, 3, 5*time.Second)
	ws.collectPids(t, 3, 15*time.Second, nil)
	if err := ws.cmd.Process.Signal(syscall.SIGTTOU); err != nil {
		t.Fatal(err)
	}
	after := ws.waitChildren(t, 2, 10*time.Second)
	t.Logf("workers: %v → TTIN %v → TTOU %v", two, three, after)
	// Stable at 2, and serving.
	time.Sleep(300 * time.Millisecond)
	if n := len(liveChildren(ws.master)); n != 2 {
		t.Errorf("%d workers 300 ms after TTOU settled, want 2", n)
	}
	ws.collectPids(t, 2, 10*time.Second, nil)
}

// TestWorkersMaxRequestsRecycles: with --max-requests 50, 400 requests
// over 2 workers are all served while workers are replaced. The load is
// spread over ~2.5 s (8 clients, a request every 50 ms each, ~160/s): a
// replacement boots before its predecessor drains, so a burst that ends
// sooner than a worker boots could never show one.
func TestWorkersMaxRequestsRecycles(t *testing.T) {
	const maxRequests = 50
	ws := startWorkers(t, "--workers", "2", "--max-requests", strconv.Itoa(maxRequests))
	ws.waitChildren(t, 2, 15*time.Second)
	t0 := time.Now()
	fresh := startLoad(ws.url+"/pid", clientsOf(4, freshClient), 0, 200, 50*time.Millisecond)
	keep := startLoad(ws.url+"/pid", clientsOf(4, keepAliveClient), 0, 200, 50*time.Millisecond)
	fresh.wait()
	keep.wait()
	perPid := map[string]int{}
	for _, l := range []*load{fresh, keep} {
		for body, n := range l.bodies {
			perPid[body] += n
			if p, err := strconv.Atoi(body); err == nil {
				ws.note(p)
			}
		}
	}
	log := ws.stderr.String()
	t.Logf("fresh: %s; keep-alive: %s; in %s; answers per pid: %v; %d workers booted; replacements:\n%s", fresh, keep,
		time.Since(t0).Round(time.Millisecond), perPid, len(bootingLine.FindAllString(log, -1)),
		strings.Join(logLines(log, "Replacing worker"), "\n"))
	for name, l := range map[string]*load{"fresh-connection": fresh, "keep-alive": keep} {
		if len(l.failures) > 0 || l.ok != 200 {
			t.Errorf("%s clients: %d of 200 requests failed:\n%s", name, 200-l.ok, l.failuresString(t0))
		}
	}
	if len(perPid) <= 2 {
		t.Errorf("answers came from %d pids %v: no worker was recycled", len(perPid), perPid)
	}
	for body, n := range perPid {
		// 50, plus what it serves while its successor boots: a worker
		// that is the only one serving keeps serving until its successor
		// is ready (nothing dropped). At ~80 requests/s per worker and a
		// boot of up to ~1 s on this loaded 2-core machine, that is up to
		// 100 more.
		if n > maxRequests+100 {
			t.Errorf("pid %s served %d requests with --max-requests %d", body, n, maxRequests)
		}
	}
	ws.waitChildren(t, 2, 10*time.Second)
}

// TestWorkersStopPromptlyAfterSpawn: a request that arrives while the
// master is starting a worker (here: right after TTIN) must not leave a
// worker unable to stop. TERM with nothing in flight ends everything
// within a few seconds.
func TestWorkersStopPromptlyAfterSpawn(t *testing.T) {
	ws := startWorkers(t, "--workers", "2")
	ws.waitReady(t, 2)
	fdinfo := listenerFdinfo(t, ws.master, ws.addr)
	if err := ws.cmd.Process.Signal(syscall.SIGTTIN); err != nil {
		t.Fatal(err)
	}
	// Aim the requests at the moment the master starts the worker: if the
	// shared listening socket loses O_NONBLOCK then (os/exec's Fd() does
	// that to inherited files), the request goes right then.
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if !nonBlocking(fdinfo) {
			t.Logf("the listening socket (shared by the master and every worker) lost O_NONBLOCK while the master started a worker")
			break
		}
	}
	c := freshClient()
	for i := 0; i < 2; i++ {
		if status, body, _, err := fetch(c, ws.url+"/pid"); err != nil || status != 200 {
			t.Fatalf("GET /pid right after TTIN: status %d body %q err %v", status, body, err)
		}
	}
	ws.waitChildren(t, 3, 5*time.Second)
	time.Sleep(300 * time.Millisecond) // the new worker is up; no traffic now
	start := time.Now()
	ws.terminate(t, 5*time.Second)
	t.Logf("TERM took %s", time.Since(start).Round(time.Millisecond))
}

// TestWorkersTimeoutKillsHungWorker: with --timeout 3 a worker stuck in a
// request for 3 s is killed and replaced; its client gets an error or a
// 5xx; the idle worker (heartbeating) is left alone.
func TestWorkersTimeoutKillsHungWorker(t *testing.T) {
	ws := startWorkers(t, "--workers", "2", "--timeout", "3")
	before := ws.waitReady(t, 2)
	start := time.Now()
	status, body, _, err := fetch(freshClient(), ws.url+"/sleep?s=100")
	took := time.Since(start)
	t.Logf("/sleep?s=100 ended after %s: status %d body %.100q err %v", took.Round(time.Millisecond), status, body, err)
	if err == nil && status < 500 {
		t.Errorf("/sleep?s=100 got status %d %q, want a connection error or a 5xx", status, body)
	}
	if took < 2500*time.Millisecond || took > 8*time.Second {
		t.Errorf("/sleep?s=100 ended after %s, want about 3 s (--timeout 3)", took)
	}
	line := ws.waitLogLine(t, 5*time.Second, "WORKER TIMEOUT")
	for _, w := range []string{"/sleep", "GET"} {
		if !strings.Contains(line, w) {
			t.Errorf("the WORKER TIMEOUT line lacks %q: %q", w, line)
		}
	}
	killed := 0
	for _, p := range before {
		if strings.Contains(line, strconv.Itoa(p)) {
			killed = p
		}
	}
	if killed == 0 {
		t.Errorf("the WORKER TIMEOUT line names none of the workers %v: %q", before, line)
	}
	status, body, _, err = fetch(freshClient(), ws.url+"/pid")
	if err != nil || status != 200 {
		t.Errorf("the request after the timeout: status %d body %q err %v", status, body, err)
	}
	after := ws.waitChildren(t, 2, 5*time.Second)
	for _, p := range after {
		if p == killed {
			t.Errorf("the timed-out worker %d is still a live child", p)
		}
	}
	// The other worker was idle for the 3 s and must have been left alone.
	if n := len(logLines(ws.stderr.String(), "WORKER TIMEOUT")); n != 1 {
		t.Errorf("%d WORKER TIMEOUT lines, want 1 (an idle worker must not time out):\n%s", n, ws.stderr.String())
	}
	survivors := 0
	for _, p := range before {
		for _, q := range after {
			if p == q {
				survivors++
			}
		}
	}
	if survivors != 1 {
		t.Errorf("workers before %v, after %v: want exactly the idle one to survive", before, after)
	}

	// A worker that sends no heartbeat (stopped) is killed too.
	silent := after[0]
	if err := syscall.Kill(silent, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	line = ws.waitLogLine(t, 10*time.Second, "WORKER TIMEOUT", fmt.Sprintf("pid: %d", silent))
	took = time.Since(stopped)
	t.Logf("stopped worker %d: %q after %s", silent, line, took.Round(time.Millisecond))
	if !strings.Contains(line, "heartbeat") {
		t.Errorf("the WORKER TIMEOUT line for the stopped worker does not name the missing heartbeat: %q", line)
	}
	if took < 2500*time.Millisecond {
		t.Errorf("the stopped worker was killed after %s, before --timeout 3", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := ws.noteChildren()
		if len(kids) == 2 && kids[0] != silent && kids[1] != silent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the stopped worker's timeout the children are %v", kids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, body, _, err := fetch(freshClient(), ws.url+"/pid"); err != nil || status != 200 {
		t.Errorf("a request after the second timeout: status %d body %q err %v", status, body, err)
	}
}

// TestWorkersRequestTimeout504: --request-timeout alone keeps one process;
// a request running Python past it gets a 504 and the process serves on.
func TestWorkersRequestTimeout504(t *testing.T) {
	ws := startWorkers(t, "--request-timeout", "1s")
	pid := ws.getPid(t, freshClient())
	if pid != ws.master {
		t.Errorf("/pid %d, want the server's own pid %d (--request-timeout needs no master)", pid, ws.master)
	}
	start := time.Now()
	status, body, _, err := fetch(freshClient(), ws.url+"/spin?s=10")
	took := time.Since(start)
	t.Logf("/spin?s=10 → status %d body %.100q err %v after %s", status, body, err, took.Round(time.Millisecond))
	if err != nil || status != 504 {
		t.Errorf("/spin?s=10 with --request-timeout 1s: status %d err %v, want 504", status, err)
	}
	if took < 900*time.Millisecond || took > 3*time.Second {
		t.Errorf("/spin?s=10 answered after %s, want 1–3 s", took)
	}
	if again := ws.getPid(t, freshClient()); again != pid {
		t.Errorf("/pid %d after the timeout, want the same process %d", again, pid)
	}
	if status, body, _, err := fetch(freshClient(), ws.url+"/spin?s=0.2"); err != nil || status != 200 || body != "spun" {
		t.Errorf("/spin?s=0.2 after the timeout: status %d body %q err %v", status, body, err)
	}
}

// TestWorkersPidFile: --pid holds the master's pid while it runs and is
// removed when it exits.
func TestWorkersPidFile(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "gowsgi.pid")
	ws := startWorkers(t, "--workers", "2", "--pid", pidFile)
	ws.waitChildren(t, 2, 15*time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(pidFile)
		if err == nil && strings.TrimSpace(string(data)) == strconv.Itoa(ws.master) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s: %q (err %v), want %d", pidFile, data, err, ws.master)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ws.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := ws.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after TERM", code)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file still there after exit (stat err %v)", err)
	}
}

// TestWorkersFastStop: INT and QUIT stop the master and its workers within
// a couple of seconds, without waiting for the request in flight.
func TestWorkersFastStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGQUIT, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ws := startWorkers(t, "--workers", "2")
			workers := ws.waitReady(t, 2)
			result := make(chan string, 1)
			go func() {
				status, body, _, err := fetch(freshClient(), ws.url+"/sleep?s=5")
				result <- fmt.Sprintf("%d %s %v", status, body, err)
			}()
			time.Sleep(300 * time.Millisecond)
			start := time.Now()
			if err := ws.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-ws.exited:
			case <-time.After(4 * time.Second):
				t.Fatalf("master still running 4 s after %s:\n%s", sig, ws.stderr.String())
			}
			took := time.Since(start)
			var got string
			select {
			case got = <-result:
			case <-time.After(2 * time.Second):
				got = "(no answer 2 s after the master exited)"
			}
			t.Logf("%s: master exited %d after %s; the request in flight got %q", sig, ws.cmd.ProcessState.ExitCode(), took.Round(time.Millisecond), got)
			if strings.HasPrefix(got, "200 ") {
				t.Errorf("the 5 s request in flight at %s completed (%q): a fast stop must not wait for it", sig, got)
			}
			for _, p := range workers {
				if e, ok := readProc(p); ok && e.alive() {
					t.Errorf("worker %d still running after the master exited", p)
				}
			}
		})
	}
}

// TestWorkersUSR1ReopensAccessLog: USR1 to the master makes the workers
// reopen --access-logfile, as logrotate needs.
func TestWorkersUSR1ReopensAccessLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	ws := startWorkers(t, "--workers", "2", "--access-logfile", logFile)
	ws.waitReady(t, 2)
	ws.get(t, "/?before-rotation")
	rotated := logFile + ".1"
	if err := os.Rename(logFile, rotated); err != nil {
		t.Fatal(err)
	}
	if err := ws.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	// Every worker must have reopened: wait for the file, then send enough
	// requests on fresh connections that each worker gets some.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(logFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reopened within 5 s of USR1:\n%s", logFile, ws.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the other worker's reopen
	ws.collectPids(t, 2, 10*time.Second, nil)
	c := freshClient()
	for i := 0; i < 20; i++ {
		if status, _, _, err := fetch(c, ws.url+"/?after-rotation"); err != nil || status != 200 {
			t.Fatalf("GET /?after-rotation: %d %v", status, err)
		}
	}
	ws.terminate(t, 8*time.Second)
	old, _ := os.ReadFile(rotated)
	cur, _ := os.ReadFile(logFile)
	if !strings.Contains(string(old), "before-rotation") {
		t.Errorf("the rotated file lacks the request made before USR1:\n%s", old)
	}
	if strings.Contains(string(old), "after-rotation") {
		t.Errorf("a worker kept writing to the rotated file after USR1:\n%s", old)
	}
	if n := strings.Count(string(cur), "after-rotation"); n < 20 {
		t.Errorf("the new file has %d of the 20+ requests made after USR1:\n%s", n, cur)
	}
}

// TestWorkersOneWorkerIsSingleProcess: --workers 1 alone keeps today's
// single process; a master-only feature (--max-requests) starts a master
// even with one worker.
func TestWorkersOneWorkerIsSingleProcess(t *testing.T) {
	t.Run("Alone", func(t *testing.T) {
		ws := startWorkers(t, "--workers", "1")
		if pid := ws.getPid(t, freshClient()); pid != ws.master {
			t.Errorf("/pid %d, want the server's own pid %d", pid, ws.master)
		}
		if kids := liveChildren(ws.master); len(kids) != 0 {
			t.Errorf("--workers 1 started children %v", pidsOf(kids))
		}
	})
	t.Run("WithMaxRequests", func(t *testing.T) {
		ws := startWorkers(t, "--workers", "1", "--max-requests", "1000")
		kids := ws.waitChildren(t, 1, 15*time.Second)
		if pid := ws.getPid(t, freshClient()); pid != kids[0] || pid == ws.master {
			t.Errorf("/pid %d, want the one worker %d (master %d)", pid, kids[0], ws.master)
		}
	})
}

// TestWorkersLifetimeRecyclesFromEnvironment: GOWSGI_WORKERS and
// GOWSGI_WORKER_LIFETIME set the flags; workers older than 1 s are
// replaced under load without a failed request.
func TestWorkersLifetimeRecyclesFromEnvironment(t *testing.T) {
	dir, mark, ws := newWorkersDir(t)
	ws.testServer = startServer(t, serverOptions{
		app:  "workers_app:application",
		args: []string{"--chdir", dir},
		env:  []string{workersMarkEnv + "=" + mark, "GOWSGI_WORKERS=2", "GOWSGI_WORKER_LIFETIME=1s"},
	})
	ws.master = ws.cmd.Process.Pid
	t.Cleanup(func() {
		ws.noteChildren()
		go ws.watchdog()
		ws.terminate(t, 8*time.Second)
	})
	first := ws.waitChildren(t, 2, 15*time.Second)
	t0 := time.Now()
	clients := append(clientsOf(2, freshClient), clientsOf(2, keepAliveClient)...)
	l := startLoad(ws.url+"/pid", clients, 2500*time.Millisecond, 0, 10*time.Millisecond)
	l.wait()
	for body := range l.bodies {
		if p, err := strconv.Atoi(body); err == nil {
			ws.note(p)
		}
	}
	t.Logf("%s; answers per pid: %v; replacements:\n%s", l, l.bodies, strings.Join(logLines(ws.stderr.String(), "Replacing worker"), "\n"))
	if len(l.failures) > 0 {
		t.Errorf("%d requests failed:\n%s", len(l.failures), l.failuresString(t0))
	}
	if len(l.bodies) <= 2 {
		t.Errorf("answers came from %d pids %v in 2.5 s with --worker-lifetime 1s: no worker was replaced", len(l.bodies), l.bodies)
	}
	for _, p := range first {
		if e, ok := readProc(p); ok && e.alive() && e.ppid == ws.master {
			t.Errorf("worker %d, started before the 2.5 s load, still serves with --worker-lifetime 1s", p)
		}
	}
}

// TestWorkersAppPassesValidator: workers_app itself is clean PEP 3333
// (single process, behind wsgiref.validate).
func TestWorkersAppPassesValidator(t *testing.T) {
	s := startValidated(t, "workers_app")
	plain := func(t *testing.T, r *http.Response, b []byte) {
		if r.Header.Get("Content-Type") != "text/plain" || r.ContentLength != int64(len(b)) {
			t.Errorf("Content-Type %q Content-Length %d for %d bytes", r.Header.Get("Content-Type"), r.ContentLength, len(b))
		}
	}
	runValidatorCases(t, s, []validatorCase{
		{name: "Root", path: "/", status: 200, wantBody: vstr("ok"), check: plain},
		{name: "Pid", path: "/pid", status: 200, wantBody: vstr(strconv.Itoa(s.cmd.Process.Pid)), check: plain},
		{name: "Version", path: "/version", status: 200, wantBody: vstr("1"), check: plain},
		{name: "Sleep", path: "/sleep?s=0.01", status: 200, wantBody: vstr("slept"), check: plain},
		{name: "Spin", path: "/spin?s=0.01", status: 200, wantBody: vstr("spun"), check: plain},
		{name: "Big", path: "/big?kb=3", status: 200, check: func(t *testing.T, r *http.Response, b []byte) {
			if len(b) != 3072 || strings.Trim(string(b), "x") != "" || r.Header.Get("Content-Type") != "application/octet-stream" {
				t.Errorf("%d bytes, Content-Type %q", len(b), r.Header.Get("Content-Type"))
			}
		}},
		{name: "BigDefault", path: "/big", status: 200, check: func(t *testing.T, _ *http.Response, b []byte) {
			if len(b) != 65536 {
				t.Errorf("%d bytes, want 65536", len(b))
			}
		}},
		{name: "BadQuery", path: "/sleep?s=x", status: 400, wantBody: vstr("bad query")},
		{name: "NegativeQuery", path: "/spin?s=-1", status: 400, wantBody: vstr("bad query")},
		{name: "NotFound", path: "/nope", status: 404, wantBody: vstr("not found")},
		{name: "Head", method: "HEAD", path: "/", status: 200, wantBody: vstr("")},
	})
	expectValidatorCleanLog(t, s)
}
