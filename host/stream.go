package host

import (
	"fmt"
	"sync"
	"time"

	"github.com/gowsgi/gowsgi/pybridge"
)

// Streamed responses (a generator's chunks, PEP 3333 write() calls) are
// sent by a goroutine of their own, so that the Python thread can produce
// the next chunk while one is on its way, and chunks that come faster
// than the client connection takes them leave together, in one write.
//
// PEP 3333 ("Buffering and Streaming") lets a server either send each
// block before asking for the next or "guarantee that they will continue
// transmission even while the application is producing its next block":
// this is the second. Before it, each chunk cost a write(2) and a wake of
// the reader: 100 chunks of 1 KiB went at 1,620 req/s against granian's
// 1,930 (docs/bench/budget.md, "Streamed responses").
//
// A chunk that the app took long to produce (streamGap or more since the
// previous one: server-sent events, tokens from a model) is sent at once
// by the Python thread, as before: such an app is probably about to wait
// again, and a chunk must not sit in the queue meanwhile. Coalescing only
// happens while chunks come back to back. If a quick chunk is followed by
// a long wait after all, the sender goroutine still sends it as soon as
// Go schedules it (at once on a multi-core machine; on one core, within a
// Go scheduler tick of the Python thread blocking).

// streamAhead is how many bytes of a streamed response may wait for the
// sender besides the write in flight; past it the Python thread waits for
// room (backpressure from a slow client reaches the app, as with direct
// writes). A chunk this large or larger is sent directly, not queued.
const streamAhead = 64 << 10

// streamGap: a chunk produced this long after the previous one is sent at
// once instead of queued. (A variable for the tests.)
var streamGap = 200 * time.Microsecond

// A whole body in one chunk (Django's and Flask's responses: one bytes
// object, with a Content-Length) is held, not written by the Python
// thread: the handler writes it once the app's iterable is done (next()
// has stopped and close() has returned), or the hold timer sends it
// holdLimit after it came, whichever is first, so that a slow close()
// does not hold the response. Why: under load the Python thread then goes
// on to the next request at once, and the responses leave from the
// handlers, together. On one cpu that took Flask from 8.3k to 11.4k
// req/s: each response written by the Python thread woke the client
// separately (the kernel's wake-up of the reader was 14 µs of a request,
// against granian's 3), and the interpreter ran on caches the network
// code had just used (docs/bench/budget.md, "One cpu: Python back to
// back"). At low load the handler is the Python thread's own goroutine,
// so the write is as early as before, less the app's close().
//
// What the app sees: the held chunk's write cannot fail while it is held,
// so an app whose client has gone learns it only if it writes again; the
// response is cut when the handler sends it, as any failed write cuts it.
// On one cpu the timer runs when Go next gets the cpu from the Python
// thread, so 200 µs is a floor there, not a bound (as for streamed
// chunks, README "Limitations").
//
// A body that comes holdUnder or more after the app was called is not
// held: the Python thread writes it at once. For such a request the
// write (and the client's wake-up) is a few per cent of its time, while
// a held body waits for its handler, which on one cpu under SCHED_BATCH
// runs at the next scheduler tick: Django's answers left in 4 ms steps,
// p99 32 ms against 20-26 ms written at once (docs/bench/budget.md,
// "Django: long requests write their own answers").
//
// holdLimit bounds the hold. maxHeld is the largest body held: it is
// copied, and one write(2) sends the head with up to 32 KiB of body.
var (
	holdUnder = 500 * time.Microsecond
	holdLimit = 200 * time.Microsecond
)

const maxHeld = 32 << 10

// streamSender carries one response's queued chunks to the client.
type streamSender struct {
	mu      sync.Mutex
	changed sync.Cond // the queue drained, the sender stopped, or a write failed
	pending []byte    // bytes queued for the sender
	spare   []byte    // the buffer the sender wrote last, reused
	active  bool      // a sender goroutine runs
	err     error     // the first write error; nothing more is sent
	last    time.Time // when the previous chunk was queued or sent
	// held: pending is a whole body waiting for the app to finish (see
	// holdLimit); no sender runs until settle or the timer sends it.
	held      bool
	holdTimer *time.Timer
	x         *exchange // the response the timer sends for
}

var streamSenders = sync.Pool{New: func() any {
	s := new(streamSender)
	s.changed.L = &s.mu
	return s
}}

// Stream sends p, a block of a streamed response, now or through the
// sender goroutine (see above). It is the Python thread's side: the app's
// next chunk is produced while earlier ones are sent.
func (x *exchange) Stream(p []byte) error {
	x.writeHeader()
	overflow := false
	if cl := x.head.contentLength; cl >= 0 && x.streamed+int64(len(p)) > cl {
		p, overflow = p[:cl-x.streamed], true
	}
	s := x.stream
	if s == nil {
		s = streamSenders.Get().(*streamSender)
		x.stream = s
	}
	if x.bodyHeld {
		// More after the whole body (only overflow can come): the held
		// body goes first, if the timer has not sent it already.
		if err := x.settle(); err != nil {
			return err
		}
	}
	now := time.Now()
	first := s.last.IsZero()
	quick := !first && now.Sub(s.last) < streamGap
	s.last = now
	quickApp := x.pythonStart.IsZero() || now.Sub(x.pythonStart) < holdUnder
	if first && quickApp && int64(len(p)) == x.head.contentLength && len(p) > 0 && len(p) <= maxHeld {
		s.hold(x, p)
		x.bodyHeld = true
		x.streamed += int64(len(p))
		if overflow {
			return pybridge.ErrBodyOverflow
		}
		return nil
	}
	if !quick || len(p) >= streamAhead {
		// The first chunk (time to first byte), one after a pause, or
		// one as large as the queue: send it, after whatever waits,
		// now (a large one is not copied).
		if err := x.settle(); err != nil {
			return err
		}
		if err := x.sendBlock(p); err != nil { // an empty one sends the head
			return err
		}
		x.streamed += int64(len(p))
		s.last = time.Now() // the next chunk's gap starts after this send
		if overflow {
			return pybridge.ErrBodyOverflow
		}
		return nil
	}
	s.mu.Lock()
	for s.err == nil && len(s.pending) > 0 && len(s.pending)+len(p) > streamAhead {
		s.changed.Wait()
	}
	if err := s.err; err != nil {
		s.mu.Unlock()
		return err
	}
	s.pending = append(s.pending, p...)
	if !s.active && len(s.pending) > 0 { // (an empty chunk queues nothing)
		s.active = true
		go s.send(x)
	}
	s.mu.Unlock()
	x.streamed += int64(len(p))
	if overflow {
		return pybridge.ErrBodyOverflow
	}
	return nil
}

// hold keeps p, a whole body, for the handler to send (see holdLimit).
func (s *streamSender) hold(x *exchange, p []byte) {
	s.mu.Lock()
	s.pending = append(s.pending, p...)
	s.held, s.x = true, x
	if s.holdTimer == nil {
		s.holdTimer = time.AfterFunc(holdLimit, s.sendHeld)
	} else {
		s.holdTimer.Reset(holdLimit)
	}
	s.mu.Unlock()
}

// sendHeld is the hold timer: the app is still busy after its whole body
// came (a slow close()), so the body goes now, on the timer's goroutine,
// as a sender goroutine would send it.
func (s *streamSender) sendHeld() {
	s.mu.Lock()
	if !s.held {
		s.mu.Unlock()
		return // settled meanwhile
	}
	s.held, s.active = false, true
	x := s.x
	s.mu.Unlock()
	s.send(x)
}

// send is the sender goroutine: it writes what is queued, in as few
// writes as the Python thread's pace allows, until the queue is empty.
//
// A panic in the writer (a gowsgi bug) must not take the process down
// from this goroutine, where nothing else would recover it: it becomes
// the stream's error, and the response is cut like any failed write.
func (s *streamSender) send(x *exchange) {
	defer func() {
		if r := recover(); r != nil {
			s.mu.Lock()
			s.err = fmt.Errorf("%w: gowsgi internal error while sending: %v", errClientGone, r)
			s.pending = s.pending[:0]
			s.active = false
			s.changed.Broadcast()
			s.mu.Unlock()
		}
	}()
	s.mu.Lock()
	for s.err == nil && len(s.pending) > 0 {
		buf := s.pending
		s.pending = s.spare[:0]
		s.changed.Broadcast() // room for the Python thread
		s.mu.Unlock()
		err := x.sendBlock(buf)
		s.mu.Lock()
		s.spare = buf[:0]
		if err != nil {
			s.err = err
		}
	}
	s.pending = s.pending[:0]
	s.active = false
	s.changed.Broadcast()
	s.mu.Unlock()
}

// settle waits until the sender has sent everything queued and stopped,
// and returns the error that stopped it, if any. Every other use of the
// response writer settles first: the writer is never used by two
// goroutines at once.
func (x *exchange) settle() error {
	s := x.stream
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.held {
		// A held body: this goroutine, about to use the writer anyway,
		// sends it.
		s.held, s.active = false, true
		s.holdTimer.Stop()
		s.mu.Unlock()
		s.send(x)
		s.mu.Lock()
	}
	for s.active {
		s.changed.Wait()
	}
	err := s.err
	s.mu.Unlock()
	return err
}

// endStream settles the response's stream and gives its sender back to
// the pool; the handler calls it once the app is done with the response.
func (x *exchange) endStream() error {
	s := x.stream
	if s == nil {
		return nil
	}
	err := x.settle()
	x.stream = nil
	s.err, s.last, s.x = nil, time.Time{}, nil
	if cap(s.pending) > streamAhead*2 || cap(s.spare) > streamAhead*2 {
		s.pending, s.spare = nil, nil // a huge chunk: do not keep its buffer
	}
	streamSenders.Put(s)
	return err
}

// sendBlock writes p and pushes it to the client.
func (x *exchange) sendBlock(p []byte) error {
	if _, err := x.write(p); err != nil {
		return err
	}
	return x.push()
}
