package host

import (
	"runtime"
	"strconv"
	"testing"
)

func TestWorkerProcsSharesTheCpus(t *testing.T) {
	for _, c := range []struct{ cpus, workers, want int }{
		{16, 1, 16}, {16, 2, 8}, {16, 3, 5}, {16, 16, 1}, {16, 32, 1}, {1, 4, 1}, {4, 0, 4},
	} {
		if got := workerProcs(c.cpus, c.workers); got != c.want {
			t.Errorf("workerProcs(%d cpus, %d workers) = %d, want %d", c.cpus, c.workers, got, c.want)
		}
	}
}

func TestWorkerProcsKeepsTheOperatorsGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	if got := workerProcsEnv(2); got != "" {
		t.Errorf("with GOMAXPROCS set, the master passes %q; want nothing (the workers inherit it)", got)
	}
	t.Setenv("GOMAXPROCS", "")
	want := envWorkerProcs + "=" + strconv.Itoa(workerProcs(runtime.GOMAXPROCS(0), 2))
	if got := workerProcsEnv(2); got != want {
		t.Errorf("workerProcsEnv(2) = %q, want %q", got, want)
	}
}

func TestApplyWorkerProcs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv(envWorkerProcs, "1")
	applyWorkerProcs()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS = %d after applyWorkerProcs with %s=1", got, envWorkerProcs)
	}
}
