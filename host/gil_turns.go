package host

import "time"

// GIL turns: a runner serving queued requests back to back steps aside
// now and then for another request that is running in Python.
//
// Such a runner drops the GIL at the end of each request and takes it
// again a few microseconds later for the next. CPython's GIL does not
// queue its waiters: a thread waiting for it asks the holder to let go
// only after a whole switch interval (5 ms) in which nobody took it, and
// the runner retaking it counts as a taking. So a request running in
// another slot (one the watchdog promoted, a long one whose GIL the
// runner's own wait took away, one coming back from a write() callback)
// could wait for as long as the queue stayed full: over a second,
// measured with Django on one cpu under SCHED_BATCH, where the woken
// waiter does not preempt the runner either (docs/bench/budget.md,
// "Django: seconds-long waits for the GIL").
//
// So once a runner has served the queue for gilTurn while another slot
// runs a request, it sleeps gilStepAside between two requests. A thread
// waiting for the GIL takes it meanwhile (on a shared cpu, because the
// runner sleeps), and the runner's next request then waits its turn
// like any other. The other request may instead be blocked in I/O with
// the GIL released; the sleep then costs gilStepAside per gilTurn, 1 %.
const (
	// gilTurn is CPython's default switch interval: each side gets
	// about the slice it would get if the runner held the GIL through.
	gilTurn = 5 * time.Millisecond
	// gilStepAside is long enough for a woken thread on another cpu to
	// run and take the GIL.
	gilStepAside = 50 * time.Microsecond
)

// othersRunning says whether a slot other than s has a request in Python
// now (running it, or waiting to go on with it). Call it with p.mu held
// or not: it reads atomics only.
func (p *pythonSlots) othersRunning(s *slot) bool {
	for _, o := range p.all {
		if o != s && o.running.Load() != 0 {
			return true
		}
	}
	return false
}
