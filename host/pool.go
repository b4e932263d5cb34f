package host

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// job is one request handed from a net/http handler goroutine to a Python
// thread. Jobs are pooled: a request allocates none of this.
type job struct {
	vars    []environ.Var
	env     pybridge.PackedEnviron
	body    []byte
	stream  bool
	x       exchange
	outcome pybridge.Outcome
	done    chan struct{}
}

var jobPool = sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}

// pythonPool runs the Python threads. Each is a goroutine locked to its OS
// thread for life, owning one PyThreadState made once (DESIGN §3): no
// thread state is created per request and threading.local state (Django's
// DB connections) survives between requests.
type pythonPool struct {
	jobs    chan *job
	stopped sync.WaitGroup
}

func startPythonPool(n int) (*pythonPool, error) {
	// Unbuffered: a send succeeds only when a thread is free, so the wait
	// for a thread happens (bounded) in the handler, see dispatch.
	p := &pythonPool{jobs: make(chan *job)}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		p.stopped.Add(1)
		go p.run(errs)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			p.stop()
			return nil, fmt.Errorf("start Python thread: %w", err)
		}
	}
	return p, nil
}

func (p *pythonPool) run(started chan<- error) {
	defer p.stopped.Done()
	runtime.LockOSThread() // for life: the thread state belongs to this OS thread
	t, err := pybridge.NewThread()
	started <- err
	if err != nil {
		return
	}
	defer t.Close()
	for j := range p.jobs {
		j.outcome = t.Serve(&j.env, j.body, j.stream, &j.x)
		j.done <- struct{}{}
	}
}

// stop ends every Python thread once the jobs channel drains.
func (p *pythonPool) stop() {
	close(p.jobs)
	p.stopped.Wait()
}
