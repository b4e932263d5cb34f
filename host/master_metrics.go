package host

import (
	"fmt"
	"sync"
)

// fleetMetrics is the master's view of its workers for --metrics-bind:
// the last metrics snapshot each worker sent in its heartbeat, the sum of
// what workers that have gone had counted (so counters only grow), the
// restart counters and which workers could take a request. The master
// loop writes it; the operations server reads it: hence the mutex (never
// on the request path, which is in the workers).
type fleetMetrics struct {
	mu       sync.Mutex
	totals   metricsSnapshot // what workers that have gone counted
	live     map[int]*fleetWorker
	restarts [len(restartReasons)]uint64
}

type fleetWorker struct {
	snap      *metricsSnapshot
	ready     bool // booted and not told to stop
	available bool // its last beat found a Python thread free
}

func newFleetMetrics() *fleetMetrics {
	return &fleetMetrics{live: map[int]*fleetWorker{}}
}

// beat records a worker's heartbeat.
func (f *fleetMetrics) beat(pid int, msg *heartbeatMessage, serving bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.live[pid]
	if w == nil {
		w = &fleetWorker{}
		f.live[pid] = w
	}
	if msg.Metrics != nil {
		w.snap = msg.Metrics
	}
	w.ready, w.available = serving, msg.Available
}

// stopping marks a worker that was told to stop: not ready any more.
func (f *fleetMetrics) stopping(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.live[pid]; w != nil {
		w.ready = false
	}
}

// gone folds a worker's last counts into the totals once its heartbeat
// pipe has closed (after its final beat).
func (f *fleetMetrics) gone(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.live[pid]; w != nil && w.snap != nil {
		s := *w.snap
		s.InFlight = 0 // a gauge: nothing of it outlives the worker
		f.totals.add(&s)
	}
	delete(f.live, pid)
}

func (f *fleetMetrics) restarted(reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range restartReasons {
		if r == reason {
			f.restarts[i]++
			return
		}
	}
}

// snapshot sums the workers' counters.
func (f *fleetMetrics) snapshot() *metricsSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.totals
	for _, w := range f.live {
		if w.snap != nil {
			s.add(w.snap)
		}
	}
	return &s
}

func (f *fleetMetrics) restartCounts() [len(restartReasons)]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restarts
}

func (f *fleetMetrics) workerCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.live)
}

// ready: some worker serves and its last beat found a Python thread free
// within --ready-timeout.
func (f *fleetMetrics) ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	serving := 0
	for _, w := range f.live {
		if w.ready {
			serving++
			if w.available {
				return true, ""
			}
		}
	}
	if serving == 0 {
		return false, "no worker is serving"
	}
	return false, fmt.Sprintf("no Python thread free in %d serving workers", serving)
}
