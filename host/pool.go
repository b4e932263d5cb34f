package host

import (
	"runtime"
	"sync"
	"time"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// job is one request on its way through Python. Jobs are pooled: a
// request allocates none of this.
type job struct {
	vars    []environ.Var
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
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

// pythonSlots bounds how many requests run Python at once (--threads) and
// runs each one on the handler's own goroutine.
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
type pythonSlots struct {
	free  chan *slot
	all   []*slot
	track bool // record what each slot runs (timeouts and heartbeats need it)
}

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
}

func newPythonSlots(n int, track bool) *pythonSlots {
	p := &pythonSlots{free: make(chan *slot, n), track: track}
	for i := 0; i < n; i++ {
		s := &slot{}
		p.all = append(p.all, s)
		p.free <- s
	}
	return p
}

// run serves j in Python on the calling goroutine, in slot s.
func (p *pythonSlots) run(s *slot, j *job) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t, err := pybridge.CurrentThread()
	if err != nil {
		j.outcome = pybridge.Outcome{Failed: true, Err: err}
		return
	}
	if p.track {
		s.mu.Lock()
		s.busy, s.method, s.path, s.start = true, j.x.r.Method, j.x.r.URL.Path, time.Now()
		s.thread, s.seq, s.interrupted = t, t.NextRequest(), false
		s.mu.Unlock()
	}
	j.outcome = t.Serve(&j.env, j.body, j.stream, &j.x)
	if p.track {
		s.mu.Lock()
		j.x.timedOut = s.interrupted
		s.busy, s.thread = false, nil
		s.mu.Unlock()
	}
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
