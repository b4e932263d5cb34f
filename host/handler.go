package host

import (
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// smallBody is the largest request body read by Go before dispatch and
// handed to Python as memory (io.BytesIO); larger and chunked bodies
// stream through wsgi.input with the GIL released during each read.
const smallBody = 64 << 10

// handler serves every request through the WSGI app.
type handler struct {
	python       *pythonSlots
	envConfig    environ.Config
	log          *Logger
	access       *accessLog
	queueTimeout time.Duration
	maxQueued    int64
	limits       requestLimits
	timeouts     ioTimeouts
	queued       atomic.Int64
	served       atomic.Int64  // requests answered, for the master's --max-requests
	maxRequests  int64         // worker only: this process's --max-requests
	limitHit     chan struct{} // worker only: closed at maxRequests
	ids          *requestIDs
	metrics      *requestMetrics // nil without --metrics-bind
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n := h.served.Add(1); n == h.maxRequests && h.limitHit != nil {
		close(h.limitHit) // tell the master now, not at the next beat
	}
	j := jobPool.Get().(*job)
	defer jobPool.Put(j)
	j.begin(h, w, r)
	if status := h.limits.check(r); status != 0 {
		// Refused before the app sees a byte (gunicorn's limits).
		h.log.Warningf("%s %.100s: %d %s (--limit-request-*)", r.Method, r.RequestURI, status, http.StatusText(status))
		h.done(j, status, writeStatus(w, status, true))
		return
	}
	if r.ProtoMajor == 1 && (r.ProtoMinor == 0 || len(r.TransferEncoding) > 0) {
		// RFC 9112 §6.1: a request that had both Transfer-Encoding and
		// Content-Length, or Transfer-Encoding on HTTP/1.0, must end its
		// connection. net/http removes the evidence (it drops the losing
		// header) before a handler runs, so every chunked request closes
		// its connection, and so does every HTTP/1.0 one: no body can
		// then be read as a second request (smuggling).
		w.Header().Set("Connection", "close")
	}
	h.packEnviron(j, r)
	if j.madeID { // the client sent none, or one refused: the app sees the one made
		if h.ids.envIndex >= 0 {
			j.env.AddKnown(h.ids.envIndex, j.requestID)
		} else {
			j.env.Add(h.ids.envKey, j.requestID)
		}
	}
	if err := h.readSmallBody(j, r); err != nil {
		status := bodyErrorStatus(err)
		h.log.Warningf("%s %s: reading the request body: %v; answered %d", r.Method, r.URL.EscapedPath(), err, status)
		h.done(j, status, writeStatus(w, status, true))
		return
	}

	status, runner := h.dispatch(j, r)
	if status != 0 {
		h.done(j, status, writeStatus(w, status, false))
		return
	}
	// A streamed response may still be on its way (stream.go): wait for
	// it before anything else uses the writer. A client that left
	// meanwhile cuts the response, as a failed direct write would have.
	if err := j.x.endStream(); err != nil && (!j.outcome.Failed || errors.Is(j.outcome.Err, pybridge.ErrBodyOverflow)) {
		j.outcome.Failed, j.outcome.Err = true, err
	}
	if parked := j.outcome.Parked; parked != nil {
		j.outcome.Parked = nil
		runner = h.sendParked(j, runner, parked)
	}
	if runner == nil {
		h.finish(j, w, r)
		return
	}
	finished := false
	defer func() {
		if !finished { // finish panicked (a cut response): no helping
			h.python.leave(runner)
		}
	}()
	h.finish(j, w, r)
	finished = true
	h.serveWaiting(j, runner)
}

// envVars holds environ.Build's output between building and packing, so
// that a request waiting in the queue holds only its packed environ.
var envVars = sync.Pool{New: func() any { return new([]environ.Var) }}

// packEnviron builds r's environ into j.env.
func (h *handler) packEnviron(j *job, r *http.Request) {
	vp := envVars.Get().(*[]environ.Var)
	vars := environ.Build((*vp)[:0], r, &h.envConfig)
	j.env.Reset()
	for _, v := range vars {
		if i := environ.KeyIndex(v.Key); i >= 0 {
			j.env.AddKnown(i, v.Value)
		} else {
			j.env.Add(v.Key, v.Value)
		}
	}
	clear(vars) // the strings point into the request
	*vp = vars[:0]
	envVars.Put(vp)
}

// begin readies a pooled job for request r: its exchange, its request id
// and, when something uses it, its start time.
func (j *job) begin(h *handler, w http.ResponseWriter, r *http.Request) {
	j.x.reset(w, r, h.log, h.timeouts)
	j.outcome = pybridge.Outcome{}
	j.queueWait, j.ranPython = 0, false
	j.parked = nil
	if j.wake == nil {
		j.wake = make(chan struct{}, 1)
	}
	j.start = time.Time{}
	if h.access != nil || h.metrics != nil { // the clock is read for them only
		j.start = time.Now()
	}
	j.requestID, j.madeID = h.ids.forRequest(r, &j.idBuf)
	if h.metrics != nil {
		h.metrics.inFlight.Add(1)
	}
}

// done accounts for an answered request: the access log line and the
// metrics (it ends the request's in-flight count).
func (h *handler) done(j *job, status int, size int64) {
	if h.access == nil && h.metrics == nil {
		return
	}
	elapsed := time.Since(j.start)
	if h.metrics != nil {
		h.metrics.inFlight.Add(-1)
		h.metrics.observe(&requestSample{
			method: j.x.r.Method, status: status,
			bytesIn: j.x.bodyRead, bytesOut: size,
			latency: elapsed, queueWait: j.queueWait,
			gilWait: j.outcome.GILWait, python: j.outcome.PythonTime,
			ranPython: j.ranPython,
		})
	}
	if h.access != nil {
		h.access.record(&accessEntry{
			r: j.x.r, status: status, size: size, start: j.start, duration: elapsed,
			requestID: j.requestID, respHeader: j.x.w.Header(),
		})
	}
}

// errBodyTooLarge: a chunked body grew past --limit-request-body.
var errBodyTooLarge = errors.New("request body larger than --limit-request-body")

// readSmallBody reads a body of known, small length into j.body. With
// --limit-request-body, a chunked body is read ahead too (up to the
// limit), so that an oversized one gets its 413 before the app runs.
func (h *handler) readSmallBody(j *job, r *http.Request) error {
	j.body = j.body[:0]
	j.stream = false
	limit := h.limits.body
	switch {
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody:
		return nil
	case r.ContentLength < 0 && limit > 0:
		return j.x.readAhead(&j.body, limit)
	case r.ContentLength < 0 || r.ContentLength > smallBody:
		j.stream = true
		return nil
	}
	n := int(r.ContentLength)
	if cap(j.body) < n {
		j.body = make([]byte, n)
	}
	j.body = j.body[:n]
	_, err := io.ReadFull(bodyReader{&j.x}, j.body)
	return err
}

// bodyErrorStatus is the answer to a body that could not be read.
func bodyErrorStatus(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// yieldAfter: on one cpu (GOMAXPROCS=1) a handler that ran its own
// request in Python for this long yields to the other ready goroutines
// before it sends its response. With one P, nothing else runs while
// Python does, so each request used to be read, run and answered in
// turn, every answer waking the client on its own, and the network code
// between two requests left Python's caches cold. Yielding lets the
// requests that came meanwhile queue behind this one, and they are then
// run back to back (Flask: 8.3k to 11.4k req/s with the whole-body hold
// of stream.go). Requests shorter than this (a few µs of Python, as
// hello's) gain nothing from it and pay the extra hand-off (3 % of hello).
const yieldAfter = 20 * time.Microsecond

// oneProc says whether GOMAXPROCS is 1. runtime.GOMAXPROCS takes the
// scheduler's global lock, so its answer is kept for a second (Go may
// change GOMAXPROCS at run time when the cgroup's cpu limit changes).
func oneProc() bool {
	now := time.Now().UnixNano()
	if now-procsCheckedAt.Load() > int64(time.Second) {
		procsCheckedAt.Store(now)
		procsAreOne.Store(runtime.GOMAXPROCS(0) == 1)
	}
	return procsAreOne.Load()
}

var (
	procsCheckedAt atomic.Int64 // UnixNano of oneProc's last look
	procsAreOne    atomic.Bool
)

// dispatch runs j in Python, at once or after waiting its turn (see
// pythonSlots). It returns a status to answer with instead (503, or 0
// when served), and the slot when this handler became a runner: it must
// then pass the slot on with serveWaiting (or pythonSlots.leave).
//
// The wait does not end when the request's context does: net/http cancels
// it when the client half-closes its side, as HTTP/1.0 tools do after
// sending, and such a client still reads the answer.
func (h *handler) dispatch(j *job, r *http.Request) (int, *slot) {
	p := h.python
	p.mu.Lock()
	if s := p.claim(); s != nil {
		p.mu.Unlock()
		started := time.Now()
		p.run(s, j)
		j.ranPython = true
		if time.Since(started) >= yieldAfter && j.x.r.ProtoMajor == 1 && j.outcome.Parked == nil && oneProc() {
			// One cpu: let the handlers Go has ready meanwhile read their
			// requests first. Python is still busy for them (this slot is
			// held), so they queue, and this runner serves them back to
			// back on its warm thread (serveWaiting) while their
			// responses leave together (see yieldAfter). serveWaiting
			// does not help after HTTP/2 or a parked response: no yield.
			// The finished request counts as progress, so the watchdog
			// does not add runners while the others read their requests.
			p.markProgress()
			runtime.Gosched()
		}
		return 0, s
	}
	if h.queued.Add(1) > h.maxQueued {
		p.mu.Unlock()
		h.queued.Add(-1)
		h.log.Warningf("%s %s: 503, %d requests already wait for a Python thread", r.Method, r.URL.EscapedPath(), h.maxQueued)
		return http.StatusServiceUnavailable, nil
	}
	if h.metrics != nil {
		j.enqueued = time.Now()
	}
	p.enqueue(j)
	p.mu.Unlock()

	// Since Go 1.23 a stopped or reset timer delivers no stale tick, so
	// the job's timer needs no draining between waits.
	if j.queueTimer == nil {
		j.queueTimer = time.NewTimer(h.queueTimeout)
	} else {
		j.queueTimer.Reset(h.queueTimeout)
	}
	select {
	case <-j.wake:
	case <-j.queueTimer.C:
		if p.withdraw(j) {
			h.queued.Add(-1)
			h.log.Warningf("%s %s: 503, no Python thread free within %s", r.Method, r.URL.EscapedPath(), h.queueTimeout)
			return http.StatusServiceUnavailable, nil
		}
		<-j.wake // a runner took it just now
	}
	j.queueTimer.Stop()
	h.queued.Add(-1)
	s := j.promoted
	if s == nil {
		return 0, nil // a runner served it
	}
	j.promoted = nil
	if h.metrics != nil {
		j.queueWait = time.Since(j.enqueued)
	}
	p.run(s, j)
	j.ranPython = true
	return 0, s
}

// sendParked sends the rest of a parked response (a wsgi.file_wrapper's
// file, or a large body) with no Python thread held (a runner passes its
// slot on first), then has it released on the next Python thread free:
// the file_wrapper's close(), as PEP 3333 asks once the response is sent,
// or the body's bytes objects dropped. It returns the slot that ran the
// release when this handler became its runner (see dispatch), else nil.
//
// Why: a response sent from a Python thread held that thread for as long
// as the client took to read it, so --threads slow downloads stopped the
// app.
func (h *handler) sendParked(j *job, runner *slot, pf *pybridge.Parked) *slot {
	if runner != nil {
		h.python.leave(runner)
	}
	if pf.File != nil {
		if err := j.x.SendFile(pf.File); err != nil {
			j.outcome.Failed, j.outcome.Err = true, err
		}
		_ = pf.File.Close()
	}
	for _, b := range pf.Body {
		if err := j.x.Write(b); err != nil {
			j.outcome.Failed, j.outcome.Err = true, err
			break
		}
	}
	pf.Body = nil // views of C memory: gone once released
	j.parked = pf
	queueWait := j.queueWait // the close's own wait is not the request's
	defer func() { j.queueWait = queueWait }()
	p := h.python
	p.mu.Lock()
	if s := p.claim(); s != nil {
		p.mu.Unlock()
		p.run(s, j)
		return s
	}
	// No limit and no timeout here: the close must run, or the app's
	// file stays open. First in line, and not counted against
	// --max-queued: it is the end of a request, not a new one.
	if h.metrics != nil {
		j.enqueued = time.Now()
	}
	p.enqueueFirst(j)
	p.mu.Unlock()
	<-j.wake
	s := j.promoted
	if s == nil {
		return nil // a runner closed it
	}
	j.promoted = nil
	p.run(s, j)
	return s
}

// serveWaiting is a runner's last step, after its own response is
// complete: it pushes that response out, then serves the requests that
// queued meanwhile on this warm thread and passes the slot on. A response
// whose end net/http still has to write (chunked, or of unknown length)
// is not held back: the slot is passed on at once.
func (h *handler) serveWaiting(j *job, s *slot) {
	if h.queued.Load() == 0 || j.x.r.ProtoMajor != 1 || !j.x.complete() {
		// Nobody waits (the usual case at low load; one that queues
		// from now on is promoted by leave), or the response cannot
		// be completed early: HTTP/2 ends a stream only when the
		// handler returns, and a response of unknown length needs
		// net/http's last chunk.
		h.python.leave(s)
		return
	}
	if err := j.x.Flush(); err != nil {
		h.log.Debugf("%s %s: flushing the response: %v", j.x.r.Method, j.x.r.URL.EscapedPath(), err)
	}
	h.python.helpAndLeave(s, h.metrics != nil)
}

// finish logs how the app did and completes the HTTP response.
func (h *handler) finish(j *job, w http.ResponseWriter, r *http.Request) {
	o := &j.outcome
	if o.Traceback != "" && j.x.bodyErr == nil {
		// (When the request body failed, the app's traceback is only the
		// echo of that: the warning below says what happened.)
		h.log.requestf(LevelError, j.requestID, o.Traceback, "Error handling request %s %s", r.Method, r.URL.RequestURI())
	}
	if o.Warning != "" {
		h.log.requestf(LevelError, j.requestID, o.Warning, "Error closing the response of %s %s", r.Method, r.URL.RequestURI())
	}
	switch {
	case j.x.bodyErr != nil && !j.x.headerWritten:
		// The app failed because its request body did: a slow or broken
		// client, not the app's fault.
		status := bodyErrorStatus(j.x.bodyErr)
		h.log.Warningf("%s %s: reading the request body: %v; answered %d", r.Method, r.URL.RequestURI(), j.x.bodyErr, status)
		h.done(j, status, writeStatus(w, status, true))
	case j.x.timedOut && !j.x.headerWritten:
		// The app ran past --request-timeout; whatever it answered (or
		// raised) instead is replaced before a byte went out.
		h.log.Errorf("Request %s %s ran past --request-timeout; answered 504", r.Method, r.URL.RequestURI())
		h.done(j, http.StatusGatewayTimeout, writeStatus(w, http.StatusGatewayTimeout, false))
	case !o.Failed:
		j.x.finish()
		h.done(j, j.x.head.code, j.x.written)
	case errors.Is(o.Err, pybridge.ErrBodyOverflow):
		h.log.Warningf("%s %s: %v (%d bytes); the rest was dropped", r.Method, r.URL.RequestURI(), o.Err, j.x.head.contentLength)
		h.done(j, j.x.head.code, j.x.written)
	case !o.HeadersSent || !j.x.headerWritten:
		if o.Err != nil {
			h.log.Errorf("Error handling request %s %s: %v", r.Method, r.URL.RequestURI(), o.Err)
		}
		h.done(j, http.StatusInternalServerError, writeStatus(w, http.StatusInternalServerError, false))
	default:
		// Headers are out: the only honest signal left is a cut connection
		// (the client sees a truncated body), never a second status line.
		if o.Err != nil && !errors.Is(o.Err, errClientGone) {
			h.log.Errorf("Error handling request %s %s: %v", r.Method, r.URL.RequestURI(), o.Err)
		}
		h.done(j, j.x.head.code, j.x.written)
		panic(http.ErrAbortHandler)
	}
}

// writeStatus answers with a plain-text status page, dropping whatever
// headers the app had set; closeConn ends the connection after it (the
// request's body may be unread). It returns the page's size, for the
// access log.
func writeStatus(w http.ResponseWriter, code int, closeConn bool) int64 {
	text := http.StatusText(code)
	hdr := w.Header()
	keepClose := hdr.Get("Connection") == "close"
	clear(hdr)
	if closeConn || keepClose {
		hdr.Set("Connection", "close")
	}
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text)
	return int64(len(text))
}
