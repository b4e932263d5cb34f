package host

import (
	"runtime"
	"sync"

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
}

var jobPool = sync.Pool{New: func() any { return new(job) }}

// pythonSlots bounds how many requests run Python at once (--threads) and
// runs each one on the handler's own goroutine.
//
// Why not a pool of goroutines locked to their OS threads, fed over a
// channel (the first design): that hand-off costs two OS thread switches
// per request (the locked goroutine can only run on its own M, and the
// handler must then be woken on another); docs/architecture.md has the
// measurements. Instead
// the handler locks itself to whatever OS thread it is on for the length
// of the request, and that OS thread's Python thread state (made once, on
// first use, and kept for the thread's life) serves it. threading.local
// state such as Django's DB connections still survives between requests;
// there is one per OS thread that has run Python, a few more than
// --threads at most.
type pythonSlots struct {
	free chan struct{}
}

func newPythonSlots(n int) *pythonSlots {
	return &pythonSlots{free: make(chan struct{}, n)}
}

// run serves j in Python on the calling goroutine; the caller holds a slot.
func (p *pythonSlots) run(j *job) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t, err := pybridge.CurrentThread()
	if err != nil {
		j.outcome = pybridge.Outcome{Failed: true, Err: err}
		return
	}
	j.outcome = t.Serve(&j.env, j.body, j.stream, &j.x)
}
