package host

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// A worker is this same binary re-executed by the master (master.go) with
// the listening sockets inherited as file descriptors 3..3+n-1 and the
// write end of a heartbeat pipe at 3+n. These variables tell it so; they
// are removed from the environment once read, so that a gowsgi started by
// the app is not mistaken for a worker.
const (
	envWorkerListeners = "GOWSGI_WORKER_LISTENERS" // n
	envWorkerBeat      = "GOWSGI_WORKER_BEAT"      // heartbeat interval
	// envWorkerMaxRequests: the worker reports at once when it has served
	// this many (its --max-requests plus jitter), not at the next beat.
	envWorkerMaxRequests = "GOWSGI_WORKER_MAX_REQUESTS"
)

// IsWorkerVariable says whether name is one of the GOWSGI_* variables a
// master sets for its workers, not a setting of the user's.
func IsWorkerVariable(name string) bool {
	switch name {
	case envWorkerListeners, envWorkerBeat, envWorkerMaxRequests, envWorkerProcs, envWorkerSpare, envWorkerPreload:
		return true
	}
	return false
}

// workerLink is a worker's side of its master: the inherited listeners and
// the heartbeat pipe.
type workerLink struct {
	listeners   []net.Listener
	beat        *os.File
	interval    time.Duration
	maxRequests int64         // 0 = none
	limitHit    chan struct{} // closed by the handler when maxRequests is reached
	modules     []string      // sent with ready (--reload)
}

// heartbeatMessage is one JSON line on the pipe: Ready once serving, then
// every interval the requests served and the oldest request in Python.
type heartbeatMessage struct {
	Ready  bool   `json:"ready,omitempty"`
	Served int64  `json:"served"`
	Busy   bool   `json:"busy,omitempty"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	AgeMS  int64  `json:"age_ms,omitempty"`
	// --reload (reload_spare.go): the first message lists what a spare
	// may preload; a spare says it waits before the app's import.
	Modules []string `json:"modules,omitempty"`
	Waiting bool     `json:"waiting,omitempty"`
	// Available: a Python thread came free within --ready-timeout (the
	// master's /readyz). Metrics: the counters, with --metrics-bind.
	Available bool             `json:"available,omitempty"`
	Metrics   *metricsSnapshot `json:"metrics,omitempty"`
	// Final is the last beat of a stopping worker: its final counts.
	Final bool `json:"final,omitempty"`
}

// workerFromEnvironment reports whether this process is a worker and, if
// so, takes over the inherited descriptors.
func workerFromEnvironment() (*workerLink, bool, error) {
	countText, ok := os.LookupEnv(envWorkerListeners)
	if !ok {
		return nil, false, nil
	}
	interval, err := time.ParseDuration(os.Getenv(envWorkerBeat))
	if err != nil || interval <= 0 {
		interval = time.Second
	}
	maxRequests, _ := strconv.ParseInt(os.Getenv(envWorkerMaxRequests), 10, 64)
	os.Unsetenv(envWorkerListeners)
	os.Unsetenv(envWorkerBeat)
	os.Unsetenv(envWorkerMaxRequests)
	applyWorkerProcs()
	count, err := strconv.Atoi(countText)
	if err != nil || count < 1 {
		return nil, false, fmt.Errorf("worker: bad %s=%q", envWorkerListeners, countText)
	}
	w := &workerLink{interval: interval, maxRequests: maxRequests, limitHit: make(chan struct{})}
	for i := 0; i < count; i++ {
		f := os.NewFile(uintptr(3+i), fmt.Sprintf("listener-%d", i))
		ln, err := net.FileListener(f)
		f.Close() // FileListener made its own copy
		if err != nil {
			closeAll(w.listeners)
			return nil, false, fmt.Errorf("worker: inherited listener %d: %w", i, err)
		}
		w.listeners = append(w.listeners, ln)
	}
	// Not inherited by processes the app starts: one that kept it would
	// hold the pipe open after this worker is gone.
	syscall.CloseOnExec(3 + count)
	w.beat = os.NewFile(uintptr(3+count), "heartbeat")
	return w, true, nil
}

// heartbeat tells the master this worker is ready, then how it is doing,
// until stop. A failed write means the master is gone: masterGone closes.
func (w *workerLink) heartbeat(h *handler, readyTimeout time.Duration, stop <-chan struct{}, masterGone chan<- struct{}) {
	defer w.beat.Close()
	enc := json.NewEncoder(w.beat)
	msg := heartbeatMessage{Ready: true, Modules: w.modules}
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	// The readiness probe waits at most a quarter of the interval, so that
	// beats stay on time for --timeout.
	probe := min(readyTimeout, w.interval/4)
	for {
		msg.Served = h.served.Load()
		if b, ok := h.python.oldest(time.Now()); ok {
			msg.Busy, msg.Method, msg.Path, msg.AgeMS = true, b.method, b.path, b.age.Milliseconds()
		}
		if h.metrics != nil {
			msg.Metrics = h.metrics.snapshot()
			msg.Available = h.python.slotFreeWithin(probe)
		}
		if err := enc.Encode(&msg); err != nil {
			close(masterGone)
			return
		}
		msg = heartbeatMessage{}
		select {
		case <-stop:
			if h.metrics != nil { // the requests served since the last beat
				_ = enc.Encode(&heartbeatMessage{Served: h.served.Load(), Metrics: h.metrics.snapshot(), Final: true})
			}
			return
		case <-tick.C:
		case <-w.limitHit:
			w.limitHit = nil // report once, now
		}
	}
}
