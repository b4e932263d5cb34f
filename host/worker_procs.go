package host

import (
	"os"
	"runtime"
	"strconv"
)

// Each worker's Go runtime gets its share of the cpus (GOMAXPROCS), not
// all of them. Go's default, every cpu the process may use, gave each of
// N workers N Ps on N cpus: their idle Ps spin looking for work, their
// threads preempt each other and the Python threads, and the first
// worker to wake took most new connections. On 16 cores, with N workers
// pinned to N cpus (docs/bench/scaling.md): hello went from 319k to 474k
// requests/s at 8 workers with p99 from 17 to 0.9 ms, and Flask from 28k
// to 40k at 8 workers (granian 37k).
//
// An operator's GOMAXPROCS in the environment is kept: the workers
// inherit it and the master sets none.
const envWorkerProcs = "GOWSGI_WORKER_PROCS"

// workerProcs is each worker's GOMAXPROCS for workers sharing cpus: its
// share, and at least 1.
func workerProcs(cpus, workers int) int {
	if workers < 1 {
		workers = 1
	}
	return max(1, cpus/workers)
}

// chosenWorkerProcs is each worker's GOMAXPROCS as the master chooses it
// on this machine; false when the operator chose GOMAXPROCS.
func chosenWorkerProcs(workers int) (int, bool) {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0, false
	}
	return workerProcs(runtime.GOMAXPROCS(0), workers), true
}

// workerProcsEnv is the variable the master gives a worker, or "" when
// the operator chose GOMAXPROCS.
func workerProcsEnv(workers int) string {
	n, ok := chosenWorkerProcs(workers)
	if !ok {
		return ""
	}
	return envWorkerProcs + "=" + strconv.Itoa(n)
}

// applyWorkerProcs sets the GOMAXPROCS the master chose, in a worker.
func applyWorkerProcs() {
	text, ok := os.LookupEnv(envWorkerProcs)
	if !ok {
		return
	}
	os.Unsetenv(envWorkerProcs) // not for the app's subprocesses
	if n, err := strconv.Atoi(text); err == nil && n > 0 {
		runtime.GOMAXPROCS(n)
	}
}
