package host

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func queuedJob() *job { return &job{wake: make(chan struct{}, 1)} }

func TestJobQueueOrderAndRemove(t *testing.T) {
	var q jobQueue
	a, b, c := queuedJob(), queuedJob(), queuedJob()
	q.push(a)
	q.push(b)
	q.push(c)
	if !q.remove(b) || q.remove(b) {
		t.Fatal("remove(b) should succeed once")
	}
	if got := q.pop(); got != a {
		t.Fatal("pop is not oldest first")
	}
	if got := q.pop(); got != c {
		t.Fatal("pop after remove skipped or repeated a job")
	}
	if q.pop() != nil || q.len() != 0 {
		t.Fatal("queue not empty")
	}
}

// A release (pushFront) goes before every waiting request, whether the
// queue's head has moved or not.
func TestJobQueuePushFront(t *testing.T) {
	var q jobQueue
	a, b, r1, r2 := queuedJob(), queuedJob(), queuedJob(), queuedJob()
	q.push(a)
	q.pushFront(r1) // head at 0: inserted
	q.push(b)
	if got := q.pop(); got != r1 {
		t.Fatal("pushFront did not go first")
	}
	q.pushFront(r2) // head moved: reuses the slot before it
	for i, want := range []*job{r2, a, b} {
		if got := q.pop(); got != want {
			t.Fatalf("pop %d: wrong job", i)
		}
	}
	if q.pop() != nil || q.len() != 0 {
		t.Fatal("queue not empty")
	}
}

// Under sustained load the queue never empties; its array must not grow
// with the number of requests served.
func TestJobQueueStaysBoundedWhenNeverEmpty(t *testing.T) {
	var q jobQueue
	for i := 0; i < 8; i++ {
		q.push(queuedJob())
	}
	for i := 0; i < 100000; i++ {
		q.push(queuedJob())
		if q.pop() == nil {
			t.Fatal("lost a job")
		}
	}
	if q.len() != 8 || cap(q.items) > 256 {
		t.Fatalf("len %d cap %d after 100000 push/pop pairs", q.len(), cap(q.items))
	}
}

// waitWoken waits for j's token and says whether it was promoted.
func waitWoken(t *testing.T, j *job, within time.Duration) *slot {
	t.Helper()
	select {
	case <-j.wake:
		return j.promoted
	case <-time.After(within):
		t.Fatalf("not woken within %s", within)
		return nil
	}
}

func TestSlotsRunAtOnceOnlyWhenNoneRuns(t *testing.T) {
	p := newPythonSlots(2, false)
	p.mu.Lock()
	s := p.claim()
	second := p.claim()
	p.mu.Unlock()
	if s == nil || second != nil {
		t.Fatalf("claim with none running = %v, with one running = %v; want a slot, then nil", s, second)
	}
	p.leave(s)
	if len(p.idle) != 2 {
		t.Fatalf("%d idle slots after leave, want 2", len(p.idle))
	}
}

// A runner that finishes nothing (blocked in I/O) must not hold up the
// queue: the watchdog gives the oldest waiter a slot of its own, one at a
// time, and never more slots than --threads.
func TestSlotsWatchdogPromotesWhenRunnersStall(t *testing.T) {
	p := newPythonSlots(2, false)
	p.mu.Lock()
	runner := p.claim()
	a, b := queuedJob(), queuedJob()
	p.enqueue(a)
	p.enqueue(b)
	p.mu.Unlock()

	if s := waitWoken(t, a, 50*stallAfter); s == nil || s == runner {
		t.Fatalf("oldest waiter promoted with slot %v, want the idle one", s)
	}
	select {
	case <-b.wake:
		t.Fatal("a third runner was made with --threads 2")
	case <-time.After(5 * stallAfter):
	}
	// The runner leaves: its slot goes to the next waiter.
	p.leave(runner)
	if s := waitWoken(t, b, time.Second); s != runner {
		t.Fatalf("waiter got slot %v from the leaving runner, want %v", s, runner)
	}
}

// A runner that keeps finishing requests is not joined by a second one
// (that one would only wait for the GIL); one that has finished nothing
// for stallAfter is. The clock starts when the first request queues, not
// at the last request of an earlier busy spell. checkStall is called by
// hand here, so that the machine's load cannot delay a progress mark past
// stallAfter.
func TestSlotsPromotionFollowsProgress(t *testing.T) {
	p := newPythonSlots(4, false)
	p.watchdog = time.AfterFunc(time.Hour, func() {}) // the real timer stays out: re-arming it does nothing
	p.watchdog.Stop()
	defer p.watchdog.Stop()
	time.Sleep(3 * stallAfter) // an idle server: nothing has finished for a while

	p.mu.Lock()
	runner := p.claim()
	j := queuedJob()
	p.enqueue(j)
	p.mu.Unlock()
	p.checkStall()
	select {
	case <-j.wake:
		t.Fatal("promoted at once after an idle spell: the no-progress clock did not start with the queue")
	default:
	}

	p.markProgress()
	p.checkStall()
	select {
	case <-j.wake:
		t.Fatal("promoted right after the runner finished a request")
	default:
	}
	p.lastProgress.Store(int64(time.Since(p.epoch) - stallAfter))
	p.checkStall()
	if s := waitWoken(t, j, time.Second); s == nil || s == runner {
		t.Fatalf("after stallAfter without progress: promoted with %v", s)
	}
}

// Readiness: a slot held from request to request (a drainer) never goes
// idle, yet the server is ready while requests finish; it is not when
// none finishes.
func TestSlotsFreeWithinCountsFinishedRequests(t *testing.T) {
	p := newPythonSlots(1, false)
	if !p.slotFreeWithin(0) {
		t.Fatal("an idle slot is not free")
	}
	p.mu.Lock()
	s := p.claim()
	p.mu.Unlock()
	if p.slotFreeWithin(5 * time.Millisecond) {
		t.Fatal("free while the only runner finishes nothing")
	}
	go func() {
		time.Sleep(2 * time.Millisecond)
		p.markProgress()
	}()
	if !p.slotFreeWithin(time.Second) {
		t.Fatal("not free although a request finished")
	}
	p.leave(s)
}

// The real handler and Python: many clients at once through few slots.
// Every request is answered, and afterwards no slot is lost and nothing
// waits.
func TestDispatchManyClientsFewSlots(t *testing.T) {
	h := benchHandler(t, 2)
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newBenchWriter()
			for i := 0; i < 200; i++ {
				w.reset()
				h.ServeHTTP(w, benchRequest())
				if w.status != 200 || w.n == 0 {
					errs <- http.StatusText(w.status)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("a request got %q", e)
	}
	h.python.mu.Lock()
	defer h.python.mu.Unlock()
	if len(h.python.idle) != 2 || h.python.waiting.len() != 0 || h.queued.Load() != 0 {
		t.Fatalf("after the load: %d idle slots (want 2), %d waiting, %d queued", len(h.python.idle), h.python.waiting.len(), h.queued.Load())
	}
}

// A request that cannot get Python in time is answered 503 without losing
// a slot; one whose client half-closed while it waited is still served.
func TestDispatchQueueTimeoutAndHalfClosedClient(t *testing.T) {
	h := benchHandler(t, 1)
	h.queueTimeout = 50 * time.Millisecond
	h.python.mu.Lock()
	busy := h.python.claim() // a request that runs (and blocks) for now
	h.python.mu.Unlock()

	var logged strings.Builder
	atoms, _ := parseAccessLogFormat(`%(s)s %(b)s`)
	h.access = &accessLog{out: &logged, format: atoms, pid: 1}
	w := newBenchWriter()
	h.ServeHTTP(w, benchRequest())
	if w.status != http.StatusServiceUnavailable {
		t.Fatalf("with the only slot stuck: %d, want 503", w.status)
	}
	if logged.String() != "503 19\n" || w.n != 19 {
		t.Errorf("access line %q for a %d-byte page; want the page's 19 bytes counted", logged.String(), w.n)
	}
	h.access = nil

	// net/http cancels the context when the client half-closes.
	r := benchRequest()
	ctx, cancel := context.WithCancel(r.Context())
	r = r.WithContext(ctx)
	w.reset()
	h.queueTimeout = time.Minute
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(w, r)
		close(done)
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case <-done:
		t.Fatal("a request was dropped when its client half-closed")
	case <-time.After(20 * time.Millisecond):
	}
	h.python.leave(busy)
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the waiting request was not served when the slot came free")
	}
	if w.status != 200 || len(h.python.idle) != 1 || h.queued.Load() != 0 {
		t.Fatalf("after: status %d, %d idle slots, %d queued", w.status, len(h.python.idle), h.queued.Load())
	}
}

// runningOn marks s as running a request on a fresh locked OS thread that
// spins or sleeps until stop closes.
func runningOn(t *testing.T, s *slot, spin bool, stop chan struct{}) {
	t.Helper()
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		s.running.Store(int32(unix.Gettid()))
		close(ready)
		for {
			select {
			case <-stop:
				s.running.Store(0)
				return
			default:
			}
			if !spin {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	<-ready
}

// The watchdog tells a thread blocked in I/O (promote a waiter) from one
// busy on a CPU (do not: the waiter would only wait for the GIL).
func TestSlotsRunnersBlockedReadsThreadCPU(t *testing.T) {
	look := func(p *pythonSlots) bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.runnersBlocked(time.Since(p.epoch))
	}
	for _, spin := range []bool{false, true} {
		p := newPythonSlots(2, false)
		if look(p) {
			t.Fatal("blocked with nothing running")
		}
		stop := make(chan struct{})
		runningOn(t, p.all[0], spin, stop)
		look(p) // the first look only records
		time.Sleep(20 * time.Millisecond)
		if got := look(p); got == spin {
			t.Errorf("spinning=%v: runnersBlocked = %v", spin, got)
		}
		close(stop)
	}
}

// panicOnceWriter panics the first time the bridge asks for its headers,
// standing in for a bug on the Go side of a request.
type panicOnceWriter struct {
	benchWriter
	panicked bool
}

func (w *panicOnceWriter) Header() http.Header {
	if !w.panicked {
		w.panicked = true
		panic("test: a bug while writing the head")
	}
	return w.benchWriter.Header()
}

// headerStorage is how the bridge asks a fast-path writer for its headers.
func (w *panicOnceWriter) headerStorage() *headerStore {
	w.Header()
	return w.benchWriter.headerStorage()
}

// A Go panic inside a request's Python call is answered 500, and its slot
// is not lost: the next request is served.
func TestDispatchPanicKeepsTheSlot(t *testing.T) {
	h := benchHandler(t, 1)
	w := &panicOnceWriter{benchWriter: *newBenchWriter()}
	h.ServeHTTP(w, benchRequest())
	if !w.panicked || w.status != http.StatusInternalServerError {
		t.Fatalf("panicked %v, status %d; want a recovered panic and 500", w.panicked, w.status)
	}
	ok := newBenchWriter()
	h.ServeHTTP(ok, benchRequest())
	if ok.status != 200 || len(h.python.idle) != 1 {
		t.Fatalf("after the panic: status %d, %d idle slots", ok.status, len(h.python.idle))
	}
}
