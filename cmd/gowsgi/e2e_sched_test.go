package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Linux scheduling policies, as /proc/PID/task/TID/stat reports them.
const (
	schedNormal = 0
	schedBatch  = 3
	schedIdle   = 5
)

// threadPolicies returns the scheduling policy of every thread of pid.
func threadPolicies(t *testing.T, pid int) map[int]int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list threads of %d: %v", pid, err)
	}
	policies := map[int]int{}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if policy, ok := threadPolicy(filepath.Join(dir, task.Name(), "stat")); ok {
			policies[tid] = policy
		}
	}
	return policies
}

// threadPolicy reads field 41 (policy) of a /proc stat file; false when
// the thread is gone.
func threadPolicy(statFile string) (int, bool) {
	data, err := os.ReadFile(statFile)
	if err != nil {
		return 0, false
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces, start at field 3.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	policy, err := strconv.Atoi(fields[41-3])
	return policy, err == nil
}

// checkPolicies starts a thread in the app (workers_app /thread), then
// checks that it and every other thread of the process that runs it
// (returned) have policy want.
func checkPolicies(t *testing.T, s *testServer, want int) (pid int) {
	t.Helper()
	resp, body := s.get(t, "/thread?s=5")
	expectStatus(t, resp, body, 200)
	var appThread int
	if _, err := fmt.Sscanf(string(body), "%d %d", &pid, &appThread); err != nil {
		t.Fatalf("/thread: %q: %v", body, err)
	}
	policies := threadPolicies(t, pid)
	if _, ok := policies[appThread]; !ok {
		t.Fatalf("the app's thread %d is not a thread of process %d (%v)", appThread, pid, policies)
	}
	for tid, policy := range policies {
		if policy != want {
			t.Errorf("process %d, thread %d (app thread %d): policy %d, want %d", pid, tid, appThread, policy, want)
		}
	}
	return pid
}

// --batch-scheduling (the default) puts every thread of the process that
// runs Python under SCHED_BATCH, including those the app starts later;
// false leaves the default policy. With workers, the master keeps the
// default policy: it runs no Python. A policy the operator chose (here
// chrt's SCHED_IDLE) is kept.
func TestBatchScheduling(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps"})
		if pid := checkPolicies(t, s, schedBatch); pid != s.cmd.Process.Pid {
			t.Errorf("served by process %d, not gowsgi's %d", pid, s.cmd.Process.Pid)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
			args: []string{"--batch-scheduling=false"}})
		checkPolicies(t, s, schedNormal)
	})
	t.Run("operator's choice", func(t *testing.T) {
		t.Parallel()
		chrt, err := exec.LookPath("chrt")
		if err != nil {
			t.Skip("no chrt (util-linux)")
		}
		s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
			runUnder: []string{chrt, "--idle", "0"}})
		checkPolicies(t, s, schedIdle)
	})
	t.Run("workers", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
			args: []string{"--workers", "2"}})
		if worker := checkPolicies(t, s, schedBatch); worker == s.cmd.Process.Pid {
			t.Errorf("served by the master (%d)", worker)
		}
		for tid, policy := range threadPolicies(t, s.cmd.Process.Pid) {
			if policy != schedNormal {
				t.Errorf("master thread %d: policy %d, want the default", tid, policy)
			}
		}
	})
}
