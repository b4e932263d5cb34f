package host

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gowsgi/gowsgi/pybridge"
)

// errClientGone: the client went away while the response was streaming.
var errClientGone = errors.New("client disconnected")

// exchange implements pybridge.Exchange over net/http for one request.
// Its methods run on the Python thread's goroutine while the handler
// goroutine waits, so they never race with the handler; a streamed
// response's sender goroutine (stream.go) is the one exception, and every
// other use of the writer waits for it first (settle).
type exchange struct {
	w             http.ResponseWriter
	r             *http.Request
	head          responseHead
	headerWritten bool
	written       int64 // body bytes written to w
	// streamed counts body bytes accepted from the app, sent or queued
	// for the sender; only the Python thread's goroutine uses it.
	streamed int64
	stream   *streamSender // nil until a streamed chunk comes
	// bodyHeld: the app's whole body came in one chunk and was held for
	// the handler (stream.go); whatever comes after it waits for it.
	bodyHeld bool
	// pythonStart is when the app was called (pool.run): a body that
	// comes holdUnder or more after it is not held (stream.go).
	pythonStart time.Time
	log         *Logger
	// timedOut: the request ran past --request-timeout and was
	// interrupted; its response is replaced with a 504 if still possible.
	timedOut bool
	// bodyErr is why reading the request body failed (a timeout, the
	// body limit, a client gone), for the status that replaces the app's.
	bodyErr  error
	bodyRead int64 // request body bytes read, for the metrics
	// bodyEnded: the body has returned io.EOF (readBody).
	bodyEnded bool
	timeouts  ioTimeouts
	// writeDeadline is the last write deadline set; it is pushed forward
	// only when a quarter of the timeout has passed, not on every write.
	writeDeadline time.Time
}

// ioTimeouts are per-operation deadlines: each body read and each
// response write must make progress within them, so a stream that keeps
// moving is never cut, while a stalled client is.
type ioTimeouts struct {
	body  time.Duration // --body-timeout
	write time.Duration // --write-timeout
}

// deadliner is what net/http's ResponseWriter offers for per-request
// deadlines (http.ResponseController uses the same methods; asserting
// them directly avoids its allocation per request).
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

func (x *exchange) reset(w http.ResponseWriter, r *http.Request, log *Logger, t ioTimeouts) {
	*x = exchange{w: w, r: r, log: log, timeouts: t}
}

// readBody reads the request body with the body timeout armed. Once the
// body has ended the deadline is taken off again: under net/http it would
// otherwise fall on the server's background read of the next request, and
// fire while the app is still working on this one (which cancels the
// request's context).
func (x *exchange) readBody(p []byte) (int, error) {
	if err := x.settle(); err != nil {
		// The client is gone: the app's failure is its echo (finish).
		if x.bodyErr == nil {
			x.bodyErr = err
		}
		return 0, err
	}
	if x.bodyEnded {
		return 0, io.EOF
	}
	d, timed := x.w.(deadliner)
	timed = timed && x.timeouts.body > 0
	if timed {
		_ = d.SetReadDeadline(time.Now().Add(x.timeouts.body))
	}
	n, err := x.r.Body.Read(p)
	x.bodyRead += int64(n)
	if errors.Is(err, io.EOF) {
		x.bodyEnded = true
		if timed {
			_ = d.SetReadDeadline(time.Time{})
		}
	} else if err != nil && x.bodyErr == nil {
		x.bodyErr = err
	}
	return n, err
}

// bodyReader adapts exchange.readBody to io.Reader.
type bodyReader struct{ x *exchange }

func (b bodyReader) Read(p []byte) (int, error) { return b.x.readBody(p) }

// readAhead reads a whole body of unknown length into *buf, failing with
// errBodyTooLarge past limit bytes.
func (x *exchange) readAhead(buf *[]byte, limit int64) error {
	data, err := io.ReadAll(io.LimitReader(bodyReader{x}, limit+1))
	*buf = data
	if err != nil {
		return err
	}
	if int64(len(data)) > limit {
		return errBodyTooLarge
	}
	return nil
}

// armWrite sets the write deadline before a write that may block.
func (x *exchange) armWrite() {
	t := x.timeouts.write
	if t <= 0 {
		return
	}
	now := time.Now()
	if now.Add(t - t/4).Before(x.writeDeadline) {
		return // still comfortably far off
	}
	if d, ok := x.w.(deadliner); ok {
		x.writeDeadline = now.Add(t)
		_ = d.SetWriteDeadline(x.writeDeadline)
	}
}

func (x *exchange) StartResponse(h *pybridge.Head) error {
	if err := x.settle(); err != nil {
		return err
	}
	var store *headerStore
	if w, ok := x.w.(headerStorer); ok {
		store = w.headerStorage() // the fast path's: reused, no allocation
	} else {
		store = &headerStore{h: x.w.Header()}
	}
	head, err := applyHead(h, store)
	if err != nil {
		return err
	}
	if len(head.dropped) > 0 {
		x.log.Warningf("%s %s: dropped hop-by-hop response headers %v (PEP 3333 forbids them)", x.r.Method, x.r.URL.EscapedPath(), head.dropped)
	}
	x.head = head
	return nil
}

// writeHeader sends the status line once; it waits until the first body
// byte so that SendFile can still add a Content-Length.
func (x *exchange) writeHeader() {
	if !x.headerWritten {
		x.headerWritten = true
		x.w.WriteHeader(x.head.code)
	}
}

func (x *exchange) Write(p []byte) error {
	if err := x.settle(); err != nil {
		return err
	}
	defer func() { x.streamed = x.written }()
	x.writeHeader()
	if cl := x.head.contentLength; cl >= 0 && x.written+int64(len(p)) > cl {
		p = p[:cl-x.written]
		if len(p) > 0 {
			if _, err := x.write(p); err != nil {
				return err
			}
		}
		return pybridge.ErrBodyOverflow
	}
	_, err := x.write(p)
	return err
}

// writePiece is the most one write(2) or sendfile(2) may send before the
// write deadline is pushed forward again: a client must take at least this
// much per --write-timeout (512 KiB in 30 s is about 17 KB/s), however
// large the body item, file or static file it reads.
const writePiece = 512 << 10

func (x *exchange) write(p []byte) (int, error) {
	total := 0
	for {
		piece := p[:min(len(p), writePiece)]
		x.armWrite()
		n, err := x.w.Write(piece)
		x.written += int64(n)
		total += n
		if errors.Is(err, http.ErrBodyNotAllowed) {
			return total, nil // 204/304: the body is dropped, as HTTP requires
		}
		if err != nil {
			return total, fmt.Errorf("%w: %v", errClientGone, err)
		}
		if p = p[len(piece):]; len(p) == 0 {
			return total, nil
		}
	}
}

// Flush pushes everything written to the client now.
func (x *exchange) Flush() error {
	if err := x.settle(); err != nil {
		return err
	}
	x.writeHeader()
	return x.push()
}

// errorFlusher is how net/http's writers (and gowsgi's own) flush and
// report a failure; asserted directly, it costs no allocation per chunk,
// unlike http.NewResponseController.
type errorFlusher interface{ FlushError() error }

// push flushes what the writer holds (PEP 3333: no buffering of
// iterable output) and notices a client that has left by the flush's
// error. Not by the request's context: net/http cancels that whenever its
// background read ends, which a client that half-closes after its request
// (HTTP/1.0 tools do) or a read deadline also cause, and such a client
// still reads the answer.
func (x *exchange) push() error {
	x.armWrite()
	var err error
	if f, ok := x.w.(errorFlusher); ok {
		err = f.FlushError()
	} else {
		err = http.NewResponseController(x.w).Flush()
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// SendFile copies f to the client; net/http uses sendfile(2) for it when
// the length is known, so no Python runs per byte.
func (x *exchange) SendFile(f *os.File) error {
	if err := x.settle(); err != nil {
		return err
	}
	defer func() { x.streamed = x.written }()
	remaining := x.head.contentLength
	if remaining < 0 && !x.headerWritten {
		if size, err := fileRemaining(f); err == nil {
			x.w.Header().Set("Content-Length", fmt.Sprint(size))
			x.head.contentLength = size
			remaining = size
		}
	}
	x.writeHeader()
	// In pieces, so that the write deadline moves on with each one that
	// the client takes; each piece is still one sendfile(2).
	for remaining < 0 || x.written < remaining {
		size := int64(writePiece)
		if remaining >= 0 {
			size = min(size, remaining-x.written)
		}
		x.armWrite()
		n, err := io.Copy(x.w, io.LimitReader(f, size))
		x.written += n
		if err != nil {
			return fmt.Errorf("%w: sendfile: %v", errClientGone, err)
		}
		if n < size {
			break // the file ended early
		}
	}
	return nil
}

func fileRemaining(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return 0, fmt.Errorf("not a regular file")
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	return max(st.Size()-pos, 0), nil
}

func (x *exchange) ReadBody(p []byte) (int, error) {
	return x.readBody(p)
}

// finish sends the head of a response that had no body bytes at all.
func (x *exchange) finish() {
	if x.head.code != 0 {
		x.writeHeader()
	}
}

// complete says whether the app's response is whole and delimited, so
// that on HTTP/1.x flushing it now sends all of it and net/http has
// nothing left to add when the handler returns (a runner flushes before
// it serves the queue: pythonSlots). A response of unknown length is
// not: net/http would choose chunked encoding at the flush, and sends the
// last chunk only on return. (HTTP/2 always ends the stream on return;
// the caller checks the protocol.)
func (x *exchange) complete() bool {
	if !x.headerWritten {
		return false
	}
	if x.r.Method == http.MethodHead || x.head.code == http.StatusNoContent || x.head.code == http.StatusNotModified {
		return true
	}
	return x.head.contentLength >= 0 && x.written == x.head.contentLength
}
