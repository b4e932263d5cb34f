package main

import (
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"
)

var (
	procsLine       = regexp.MustCompile(`Each worker runs Go on (\d+) of (\d+) cpus`)
	workerProcsLine = regexp.MustCompile(`Booting worker with pid: \d+ \(GOMAXPROCS (\d+)\)`)
)

// workerGOMAXPROCS waits for n worker boot lines and returns their
// GOMAXPROCS.
func workerGOMAXPROCS(t *testing.T, s *testServer, n int) []int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := workerProcsLine.FindAllStringSubmatch(s.stderr.String(), -1); len(m) >= n {
			var procs []int
			for _, line := range m[:n] {
				p, _ := strconv.Atoi(line[1])
				procs = append(procs, p)
			}
			return procs
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %d worker boot lines with GOMAXPROCS:\n%s", n, s.stderr.String())
	return nil
}

// With workers, each worker's Go runtime gets its share of the cpus, not
// all of them (host/worker_procs.go); a GOMAXPROCS the operator set is
// passed through unchanged.
func TestWorkersShareTheCpus(t *testing.T) {
	t.Parallel()
	if runtime.NumCPU() < 2 {
		t.Skip("one cpu: every share is 1, the same as Go's default")
	}
	t.Run("share", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOptions{app: "hello:application", dir: "testdata/apps",
			args: []string{"--workers", "2"}, env: []string{"GOMAXPROCS="}})
		s.waitLog(t, "Each worker runs Go on")
		m := procsLine.FindStringSubmatch(s.stderr.String())
		share, _ := strconv.Atoi(m[1])
		cpus, _ := strconv.Atoi(m[2])
		if want := max(1, cpus/2); share != want {
			t.Errorf("master: each of 2 workers runs Go on %d of %d cpus, want %d", share, cpus, want)
		}
		for _, p := range workerGOMAXPROCS(t, s, 2) {
			if p != share {
				t.Errorf("a worker has GOMAXPROCS %d, want the master's %d", p, share)
			}
		}
		resp, body := s.get(t, "/")
		expectStatus(t, resp, body, 200)
	})
	t.Run("operator's GOMAXPROCS", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, serverOptions{app: "hello:application", dir: "testdata/apps",
			args: []string{"--workers", "2"}, env: []string{"GOMAXPROCS=3"}})
		for _, p := range workerGOMAXPROCS(t, s, 2) {
			if p != 3 {
				t.Errorf("a worker has GOMAXPROCS %d, want the operator's 3", p)
			}
		}
		if procsLine.MatchString(s.stderr.String()) {
			t.Errorf("the master claims a share although GOMAXPROCS was set:\n%s", s.stderr.String())
		}
	})
}
