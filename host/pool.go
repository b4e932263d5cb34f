package host

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gowsgi/gowsgi/pybridge"
)

// job is one request on its way through Python. Jobs are pooled: a
// request allocates none of this.
type job struct {
	env     pybridge.PackedEnviron
	body    []byte
	stream  bool
	x       exchange
	outcome pybridge.Outcome
	start   time.Time // zero unless the access log or metrics want it
	// requestID is the client's id or one made into idBuf (madeID).
	requestID string
	madeID    bool
	idBuf     []byte
	queueWait time.Duration // waiting for a Python slot
	ranPython bool
	// Waiting for Python (pythonSlots): wake gets one token when a runner
	// has served the request, or when it is promoted to run it itself in
	// slot promoted.
	wake     chan struct{}
	promoted *slot
	// queueTimer bounds the wait (--queue-timeout); kept with the pooled
	// job and reset for each wait, since a timer made per queued request
	// was a quarter of the bytes a saturated server allocated.
	queueTimer *time.Timer
	enqueued   time.Time // when it began to wait; set only for the metrics
	// parked: the job is not a request but the release of a parked
	// response already sent (handler.sendParked).
	parked *pybridge.Parked
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

// pythonSlots bounds how many requests run Python at once (--threads) and
// decides which OS thread runs each request's Python.
//
// Why not a pool of goroutines locked to their OS threads, fed over a
// channel (the first design): that hand-off costs two OS thread switches
// per request (the locked goroutine can only run on its own M, and the
// handler must then be woken on another); docs/architecture.md has the
// measurements. Instead the handler locks itself to whatever OS thread it
// is on for the length of the request, and that OS thread's Python thread
// state (made once, on first use, and kept for the thread's life) serves
// it. threading.local state such as Django's DB connections still survives
// between requests; there is one per OS thread that has run Python, a few
// more than --threads at most.
//
// Why requests queue behind a running one instead of each taking a free
// slot: a handler that takes a slot and then waits for the GIL sleeps in
// CPython's GIL condition variable, and every request then hands the GIL
// from one OS thread to another, usually on another core, where the
// interpreter's caches are cold. On 16 cores that doubled the CPU cost of
// a Flask request (docs/bench/budget.md). So a request runs at once only
// when no other runs Python; otherwise it waits in the queue (parked in
// Go, not on the GIL). The handler that is running Python serves the
// queued requests on its own, warm, thread once its own response is out
// (helpAndLeave); if requests still wait after a short budget, it hands
// its slot to a drainer goroutine, which runs Python back to back on one
// OS thread until the queue is empty, so under sustained load Python
// stays on one thread, as in granian, and the handlers do the HTTP work
// on the other cores. A request that blocks in Python (I/O, time.sleep)
// must not stall the rest, so a watchdog promotes the oldest waiter to a
// runner of its own, up to --threads runners, when the threads running
// Python are off the CPU (probeEvery) or have finished nothing for
// stallAfter.
type pythonSlots struct {
	mu      sync.Mutex
	idle    []*slot  // slots no runner holds
	all     []*slot  // every slot, for the timeout and heartbeat scans
	waiting jobQueue // requests waiting for a runner, oldest first
	track   bool     // record what each slot runs (timeouts and heartbeats need it)

	epoch        time.Time
	lastProgress atomic.Int64 // ns since epoch when a runner last finished a request
	watchdog     *time.Timer
	watchArmed   bool

	// parked counts responses sent without a Python thread and not yet
	// released (handler.sendParked); past maxParked, responses are sent
	// from the Python thread again, as before parking existed, so that
	// slow clients cannot pin an unbounded number of bodies and files.
	parked    atomic.Int64
	maxParked int64
}

// stallAfter is how long the running requests may go without finishing
// one before a waiting request gets a runner (and an OS thread) of its
// own even though they are busy on a CPU: a long request then shares the
// GIL with the queue. It is under CPython's 5 ms GIL switch interval and
// well over the Python time of a typical request (Flask: ~0.1 ms), so a
// busy runner is not joined by a second one that would only wait for its
// GIL.
const stallAfter = 2 * time.Millisecond

// While requests wait, the watchdog looks every probeEvery at the threads
// running Python. If each used less than a quarter of that time on a CPU,
// they are blocked (I/O with the GIL released: a database query, a
// socket), and the oldest waiter gets a runner of its own at once. (A
// half misfired on a busy 2-core machine, where a running thread gets
// about half a core.) Without this,
// an app whose requests each wait 1 ms on I/O ran them one at a time:
// 852 req/s against 3,483 with four threads (testdata errors /sleep).
const probeEvery = 500 * time.Microsecond

// A connection's handler serves queued requests for at most maxHelp of
// them or helpBudget, whichever comes first, and then hands its slot to a
// drainer, so that its own connection's next request is not kept waiting
// behind a long queue (measured: with 10 ms requests and no time bound,
// p99 doubled).
const (
	maxHelp    = 64
	helpBudget = time.Millisecond
)

// slot is one of the --threads places a request can run Python in. While
// tracking is on it says which request it runs, for the request timeout
// and the worker heartbeat.
type slot struct {
	mu          sync.Mutex
	busy        bool
	method      string
	path        string
	start       time.Time
	thread      *pybridge.Thread
	seq         uint64
	interrupted bool

	// running is the OS thread id of the request running in the slot,
	// 0 between requests; the watchdog reads that thread's CPU clock.
	running atomic.Int32
	// The watchdog's last look at the slot (guarded by pythonSlots.mu).
	probeTID          int32
	probeCPU, probeAt time.Duration
}

func newPythonSlots(n int, track bool) *pythonSlots {
	p := &pythonSlots{track: track, epoch: time.Now(), maxParked: int64(max(64, 16*n))}
	for i := 0; i < n; i++ {
		s := &slot{}
		p.all = append(p.all, s)
		p.idle = append(p.idle, s)
	}
	return p
}

// claim returns a slot for a request that may run at once: only when no
// request runs Python now. Call it with p.mu held.
func (p *pythonSlots) claim() *slot {
	if len(p.idle) < len(p.all) || len(p.idle) == 0 {
		return nil
	}
	s := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return s
}

// enqueue adds j to the waiting requests. Call it with p.mu held.
func (p *pythonSlots) enqueue(j *job) {
	p.waiting.push(j)
	p.armWatchdog()
}

// enqueueFirst puts j before every waiting request: the release of a
// response already sent, which should not wait behind new work (its
// close() may free what they need). Call it with p.mu held.
func (p *pythonSlots) enqueueFirst(j *job) {
	p.waiting.pushFront(j)
	p.armWatchdog()
}

func (p *pythonSlots) armWatchdog() {
	if !p.watchArmed {
		p.watchArmed = true
		// The watchdog's clocks start now: nobody waited before, and
		// samples from an earlier busy spell are stale.
		p.markProgress()
		for _, s := range p.all {
			s.probeTID = 0
		}
		if p.watchdog == nil {
			p.watchdog = time.AfterFunc(probeEvery, p.checkStall)
		} else {
			p.watchdog.Reset(probeEvery)
		}
	}
}

// withdraw takes j out of the queue (its client left or it waited too
// long); false when a runner has taken it already.
func (p *pythonSlots) withdraw(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting.remove(j)
}

// markProgress records that a runner finished a request, and returns the
// time it did (since p.epoch).
func (p *pythonSlots) markProgress() time.Duration {
	now := time.Since(p.epoch)
	p.lastProgress.Store(int64(now))
	return now
}

// checkStall is the watchdog: while requests wait, it gives the oldest a
// runner of its own when the running requests are blocked (runnersBlocked)
// or when the runners have finished nothing for stallAfter (a long
// request, a slow client).
func (p *pythonSlots) checkStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watchArmed = false
	if p.waiting.len() == 0 {
		return
	}
	now := time.Since(p.epoch)
	idleFor := now - time.Duration(p.lastProgress.Load())
	if len(p.idle) > 0 && (idleFor >= stallAfter || p.runnersBlocked(now)) {
		s := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		p.promote(p.waiting.pop(), s)
		p.markProgress() // the next promotion for lack of progress waits another stallAfter
	}
	if p.waiting.len() > 0 {
		p.watchArmed = true
		p.watchdog.Reset(probeEvery)
	}
}

// runnersBlocked says whether at least one request runs Python and every
// one that does used under a quarter of the time since the last look on a
// CPU. A request seen for the first time counts as running. Call it with
// p.mu held.
func (p *pythonSlots) runnersBlocked(now time.Duration) bool {
	seen, blocked := 0, true
	for _, s := range p.all {
		tid := s.running.Load()
		if tid == 0 {
			s.probeTID = 0
			continue
		}
		seen++
		cpu, ok := threadCPUTime(int(tid))
		if !ok {
			blocked = false
			continue
		}
		if s.probeTID != tid || now-s.probeAt <= 0 || 4*(cpu-s.probeCPU) >= now-s.probeAt {
			blocked = false
		}
		s.probeTID, s.probeCPU, s.probeAt = tid, cpu, now
	}
	return seen > 0 && blocked
}

// promote makes waiting request j a runner in slot s: its own handler
// runs it. Call it with p.mu held.
func (p *pythonSlots) promote(j *job, s *slot) {
	j.promoted = s
	j.wake <- struct{}{}
}

// helpAndLeave is called by a runner after its own response is out: it
// serves, on this goroutine and OS thread, the requests waiting now (see
// maxHelp), waking each one's handler to finish its response. If requests
// still wait after that, the slot goes to a drainer goroutine; otherwise
// it is freed.
func (p *pythonSlots) helpAndLeave(s *slot, timed bool) {
	p.mu.Lock()
	p.runQueued(s, timed, true)
	if p.waiting.len() > 0 {
		p.mu.Unlock()
		go p.drain(s, timed)
		return
	}
	p.idle = append(p.idle, s)
	p.mu.Unlock()
}

// drain serves the queue on one locked OS thread until it is empty, then
// frees the slot. It is a goroutine of its own, not a connection's
// handler, so no client waits while it works; under sustained load it
// runs Python back to back on one thread, the shape that keeps the
// interpreter's caches warm (docs/bench/budget.md).
func (p *pythonSlots) drain(s *slot, timed bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p.mu.Lock()
	p.runQueued(s, timed, false)
	p.leaveLocked(s)
	p.mu.Unlock()
}

// runQueued runs waiting requests in slot s until none waits or, when
// budgeted, maxHelp or helpBudget is spent. Call it with p.mu held; it
// returns with p.mu held.
func (p *pythonSlots) runQueued(s *slot, timed, budgeted bool) {
	now := time.Since(p.epoch) // when the last request ended (markProgress)
	turnStart, deadline := now, now+helpBudget
	for n := 0; !budgeted || n < maxHelp; n++ {
		if now-turnStart >= gilTurn && p.othersRunning(s) {
			// Another request waits for the GIL, or is blocked in I/O
			// (see gil_turns.go).
			p.mu.Unlock()
			time.Sleep(gilStepAside)
			p.mu.Lock()
			turnStart = time.Since(p.epoch)
		}
		j := p.waiting.pop()
		if j == nil {
			return
		}
		p.mu.Unlock()
		if timed {
			j.queueWait = time.Since(j.enqueued)
		}
		p.run(s, j)
		j.ranPython = true
		now = p.markProgress()
		j.wake <- struct{}{}
		p.mu.Lock()
		if budgeted && now >= deadline {
			return
		}
	}
}

// leave gives up a runner's slot without serving anyone.
func (p *pythonSlots) leave(s *slot) {
	p.mu.Lock()
	p.leaveLocked(s)
	p.mu.Unlock()
}

func (p *pythonSlots) leaveLocked(s *slot) {
	if j := p.waiting.pop(); j != nil {
		p.promote(j, s)
		p.markProgress() // the promoted runner starts its clock
		return
	}
	p.idle = append(p.idle, s)
}

// run serves j in Python on the calling goroutine, in slot s.
//
// A Go panic while serving (a bug in gowsgi, not in the app: the app's
// exceptions are Python's) becomes a failed outcome, answered 500 and
// logged, so that the slot is never lost and a helper or drainer serving
// someone else's request neither hangs that request nor kills the process.
func (p *pythonSlots) run(s *slot, j *job) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	release := j.parked // a release job (handler.sendParked), not a request
	j.parked = nil
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("gowsgi internal error while serving the request: %v", r)
			if release != nil {
				// The response went out already: only the log hears of it.
				j.outcome.Warning += err.Error()
			} else {
				j.outcome = pybridge.Outcome{Failed: true, Err: err}
			}
			s.running.Store(0)
			if p.track {
				s.mu.Lock()
				s.busy, s.thread = false, nil
				s.mu.Unlock()
			}
		}
	}()
	t, err := s.pythonThread()
	if err != nil {
		if release != nil {
			j.outcome.Warning += err.Error()
		} else {
			j.outcome = pybridge.Outcome{Failed: true, Err: err}
		}
		return
	}
	started := time.Now() // one clock read for the slot's record and the hold (stream.go)
	if p.track {
		s.mu.Lock()
		// Escaped: the path reaches the error log (--request-timeout,
		// and the master's WORKER TIMEOUT line), where a decoded %0a
		// could write a line of the client's own.
		s.busy, s.method, s.path, s.start = true, j.x.r.Method, j.x.r.URL.EscapedPath(), started
		s.thread, s.seq, s.interrupted = t, t.NextRequest(), false
		s.mu.Unlock()
	}
	s.running.Store(int32(t.OSThreadID()))
	if release != nil {
		j.outcome.Warning += t.CloseParked(release)
		p.parked.Add(-1)
	} else {
		park := p.parked.Load() < p.maxParked
		j.x.pythonStart = started
		j.outcome = t.Serve(&j.env, j.body, j.stream, &j.x, park)
		if j.outcome.Parked != nil {
			p.parked.Add(1)
		}
	}
	s.running.Store(0)
	if p.track {
		s.mu.Lock()
		if release == nil {
			j.x.timedOut = s.interrupted
		}
		s.busy, s.thread = false, nil
		s.mu.Unlock()
	}
}

// pythonThread returns the calling OS thread's Python thread, making it
// the first time this OS thread runs Python. Making it takes the GIL, so
// the slot is marked running first: a runner serving the queue then
// steps aside for it (gil_turns.go). Unmarked, a request promoted onto an
// OS thread new to Python waited for the GIL for as long as the queue
// stayed full (up to 2 s, measured on one cpu). run clears the mark.
func (s *slot) pythonThread() (*pybridge.Thread, error) {
	if t := pybridge.ThisThread(); t != nil {
		return t, nil
	}
	s.running.Store(int32(unix.Gettid()))
	t, err := pybridge.NewThread()
	if err != nil {
		s.running.Store(0)
	}
	return t, err
}

// busySlot describes a request running in a slot.
type busySlot struct {
	method, path string
	age          time.Duration
}

// oldest returns the longest-running request, if any.
func (p *pythonSlots) oldest(now time.Time) (busySlot, bool) {
	var best busySlot
	found := false
	for _, s := range p.all {
		s.mu.Lock()
		if s.busy && (!found || now.Sub(s.start) > best.age) {
			best, found = busySlot{s.method, s.path, now.Sub(s.start)}, true
		}
		s.mu.Unlock()
	}
	return best, found
}

// interruptOverdue raises RequestTimeout in every request that has run
// Python longer than limit, once each; it returns what it interrupted.
func (p *pythonSlots) interruptOverdue(now time.Time, limit time.Duration) []busySlot {
	var hit []busySlot
	for _, s := range p.all {
		s.mu.Lock()
		if s.busy && !s.interrupted && now.Sub(s.start) > limit {
			if s.thread.Interrupt(s.seq) {
				s.interrupted = true
				hit = append(hit, busySlot{s.method, s.path, now.Sub(s.start)})
			}
		}
		s.mu.Unlock()
	}
	return hit
}
