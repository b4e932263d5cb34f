package main

// gowsgi as PID 1 of a new PID namespace (as in a container): it reaps
// the orphans an app leaves behind and stops gracefully on SIGTERM.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requirePIDNamespace skips when this user may not make a PID namespace.
func requirePIDNamespace(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("no unshare(1) (util-linux)")
	}
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare --pid is not permitted here: %v %s", err, out)
	}
}

// procLine is one line of pid1_app's /procs.
type procLine struct {
	pid, ppid int
	state     string
	comm      string
}

func parseProcs(t *testing.T, body string) []procLine {
	t.Helper()
	var procs []procLine
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 {
			t.Fatalf("bad /procs line %q", line)
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad /procs line %q", line)
		}
		procs = append(procs, procLine{pid, ppid, f[2], f[3]})
	}
	return procs
}

func TestPID1ReapsOrphansAndStopsOnSIGTERM(t *testing.T) {
	requireVenv(t)
	requirePIDNamespace(t)
	// --kill-child: if the test dies, the namespace goes with it.
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child",
		gowsgiBin, "run", "-b", "127.0.0.1:0", "--virtualenv", testVenv,
		"--chdir", filepath.Join(repoRoot, "testdata", "apps"), "pid1_app:application")
	s, listens := launchServer(t, cmd, 1)
	s.url = listens[0]
	s.waitLog(t, "Running as PID 1")

	// The server is a child of gowsgi's PID 1, which is the child of unshare.
	resp, body := s.get(t, "/procs")
	expectStatus(t, resp, body, 200)
	procs := parseProcs(t, string(body))
	var server *procLine
	for i, p := range procs {
		if p.pid == 1 && p.comm != "gowsgi" {
			t.Fatalf("PID 1 is %q, not gowsgi:\n%s", p.comm, body)
		}
		if p.ppid == 1 && p.comm == "gowsgi" {
			server = &procs[i]
		}
	}
	if server == nil {
		t.Fatalf("no gowsgi server under PID 1:\n%s", body)
	}

	// The orphaned sleep is re-parented to our PID 1 and, once it has
	// ended, reaped: no zombie is left whose parent is PID 1.
	resp, body = s.get(t, "/orphan")
	expectStatus(t, resp, body, 200)
	time.Sleep(150 * time.Millisecond)
	_, body = s.get(t, "/procs")
	adopted := false
	for _, p := range parseProcs(t, string(body)) {
		if p.comm == "sleep" && p.ppid == 1 {
			adopted = true
		}
	}
	if !adopted {
		t.Fatalf("the orphaned sleep was not re-parented to PID 1 (the test shows nothing):\n%s", body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = s.get(t, "/procs")
		var left []string
		for _, p := range parseProcs(t, string(body)) {
			if p.ppid == 1 && (p.comm == "sleep" || p.state == "Z") {
				left = append(left, fmt.Sprintf("%d %s %s", p.pid, p.state, p.comm))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("orphans of PID 1 not reaped after 10s: %v\nserver log:\n%s", left, s.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// SIGTERM to gowsgi's PID 1 (seen from here as unshare's child) stops
	// the server gracefully, and the namespace's exit status is 0.
	pid1 := namespaceInit(t, s.cmd.Process.Pid)
	if err := syscall.Kill(pid1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 20*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0:\n%s", code, s.stderr.String())
	}
	log := s.stderr.String()
	for _, want := range []string{"Handling signal: SIGTERM", "Shutdown complete"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// namespaceInit returns the pid (in our namespace) of unshare's child.
func namespaceInit(t *testing.T, unsharePid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePid, unsharePid))
	if err != nil {
		t.Fatalf("find unshare's child: %v", err)
	}
	fields := strings.Fields(string(data))
	if len(fields) != 1 {
		t.Fatalf("unshare has children %q, want one", data)
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}
