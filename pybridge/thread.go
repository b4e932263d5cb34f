package pybridge

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/cgo"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exchange is the HTTP side of one request, as the bridge sees it. Its
// methods are called on the Python thread with the GIL released (a
// parked response's rest is sent by the caller instead, see Parked).
type Exchange interface {
	// StartResponse checks and sends the status and headers. An error
	// means they are invalid and nothing was sent.
	StartResponse(head *Head) error
	// Write sends body bytes; p views C memory, valid only during the call.
	Write(p []byte) error
	// Stream sends one block of a streamed response (an iterable's
	// chunk, a write() call's bytes). It must not wait in a buffer (PEP
	// 3333): it is sent before Stream returns, or by a sender that goes
	// on sending while the app produces the next block. p views C
	// memory, valid only during the call.
	Stream(p []byte) error
	// SendFile sends f from its current offset to its end.
	SendFile(f *os.File) error
	// ReadBody reads the request body for a streaming wsgi.input.
	ReadBody(p []byte) (int, error)
}

// ErrBodyOverflow is what an Exchange returns when the app produced more
// body bytes than its Content-Length: the declared bytes went out and the
// rest was dropped, so the response is whole. A write() call that
// overflows returns to the app without an exception; Serve's Outcome then
// reports it.
var ErrBodyOverflow = errors.New("the app sent more body bytes than its Content-Length")

// Outcome is how a request ended, for the caller to log and to finish the
// HTTP response (a 500 when Failed before HeadersSent, else a cut
// connection when Failed).
type Outcome struct {
	Failed      bool
	HeadersSent bool
	// Traceback is the app's exception, when it raised.
	Traceback string
	// Err is a failure outside Python: invalid headers, a write error.
	Err error
	// Warning is text to log although the response went out, e.g. an
	// exception raised by the iterable's close().
	Warning string
	// Parked, when set, is the rest of the response for the caller to
	// send (the status and headers went to StartResponse): a
	// wsgi.file_wrapper's file, or a large body. Then hand it to
	// Thread.CloseParked on any Python thread. The Python thread is free
	// meanwhile.
	Parked *Parked
	// GILWait is how long the request's thread waited to take the GIL,
	// and PythonTime how long it held it, summed over the request; both
	// are zero unless SetTiming(true).
	GILWait, PythonTime time.Duration
}

// SetTiming turns the per-request GIL clocks (Outcome.GILWait and
// PythonTime) on or off. Call it before requests run.
func SetTiming(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.gw_set_timing(v)
}

// Thread is one Python thread: a PyThreadState made once on one OS thread.
// Create, use and close it on a single goroutine locked with
// runtime.LockOSThread for the thread's whole life.
type Thread struct {
	c           *C.gw_thread
	handle      cgo.Handle
	res         *C.gw_result // C memory: cgo's pointer checks stay cheap
	exchange    Exchange
	headersSent bool
	// head is handed to Exchange.StartResponse: a field, not a local,
	// because a pointer passed through an interface escapes, and a local
	// would then cost an allocation per request.
	head Head
	seq  uint64 // number of the request Serve runs, for Interrupt
	tid  int    // the OS thread's id (gettid), for its CPU clock
	// writeOverflow is ErrBodyOverflow from a write() call of the request
	// (gowsgiWrite), for Serve's Outcome.
	writeOverflow error
}

// OSThreadID is the id of the OS thread this Python thread lives on; its
// CPU clock tells whether the thread is running or blocked.
func (t *Thread) OSThreadID() int { return t.tid }

// NextRequest is the number the next Serve call will give its request.
func (t *Thread) NextRequest() uint64 { return t.seq + 1 }

// Interrupt raises _gowsgi.RequestTimeout in request seq's Python code if
// that request is still running Python. Safe from any goroutine.
func (t *Thread) Interrupt(seq uint64) bool {
	return C.gw_interrupt(t.c, C.uint64_t(seq)) == 1
}

// CurrentThread returns the Python thread of the calling OS thread, making
// it on first use. The caller must hold runtime.LockOSThread for as long as
// it uses the Thread. Thread states are made once per OS thread and kept:
// never per request.
func CurrentThread() (*Thread, error) {
	if t := ThisThread(); t != nil {
		return t, nil
	}
	return NewThread()
}

// ThisThread returns the Python thread of the calling OS thread, or nil
// if it has none yet. Unlike NewThread it never takes the GIL.
func ThisThread() *Thread {
	var h C.uintptr_t
	if C.gw_thread_current(&h) == nil {
		return nil
	}
	return threadOf(h)
}

// NewThread makes a Python thread on the calling (locked) OS thread. It
// waits for the GIL to make the thread state.
func NewThread() (*Thread, error) {
	t := &Thread{tid: unix.Gettid()}
	t.handle = cgo.NewHandle(t)
	t.c = C.gw_thread_new(C.uintptr_t(t.handle))
	if t.c == nil {
		t.handle.Delete()
		return nil, errors.New("pybridge: out of memory creating a Python thread")
	}
	t.res = C.gw_thread_result(t.c)
	return t, nil
}

// Close releases the thread state; call it on the thread's own goroutine.
func (t *Thread) Close() {
	C.gw_thread_free(t.c)
	t.c = nil
	t.handle.Delete()
}

// Serve runs one request through the app and drives its response to x.
// body is the pre-read request body; with stream set, wsgi.input reads
// from x.ReadBody instead. With park set, a file_wrapper file or a large
// body is left to the caller to send (Outcome.Parked); otherwise it is
// sent here, with this thread waiting.
func (t *Thread) Serve(env *PackedEnviron, body []byte, stream bool, x Exchange, park bool) (o Outcome) {
	t.exchange = x
	t.headersSent = false
	defer func() {
		t.exchange = nil
		if t.writeOverflow != nil && !o.Failed {
			o.Failed, o.Err = true, t.writeOverflow
		}
		t.writeOverflow = nil
		// The clocks ride in the result of the request's last call.
		o.GILWait = time.Duration(t.res.gil_wait_ns)
		o.PythonTime = time.Duration(t.res.python_ns)
	}()
	mode := C.int(C.GW_BODY_MEMORY)
	if stream {
		mode = C.GW_BODY_STREAM
	}
	// open: the app's iterable is still open in C. A Go panic from the
	// exchange (a gowsgi bug, recovered by the caller) must not skip its
	// close(), nor leave it to be overwritten by this thread's next request.
	open := false
	defer func() {
		if !open {
			return
		}
		if r := recover(); r != nil {
			t.finish(&o, C.GW_CHUNK)
			panic(r)
		}
	}()
	envBuf := env.Bytes()
	t.seq++
	C.gw_request_start(t.c, C.uint64_t(t.seq), cPtr(envBuf), C.size_t(len(envBuf)), cPtr(body), C.size_t(len(body)), mode, t.res)
	for {
		r := t.res
		kind := r.kind
		open = kind == C.GW_CHUNK || kind == C.GW_FILE
		if r.error != nil {
			text := C.GoStringN(r.error, C.int(r.error_len))
			if kind == C.GW_ERROR {
				o.Traceback += text
			} else {
				o.Warning += text
			}
		}
		if kind == C.GW_ERROR {
			o.Failed = true
			o.HeadersSent = t.headersSent
			return o
		}
		if r.headers != nil {
			t.head = Head{raw: cBytes(r.headers, r.headers_len), count: int(r.header_count)}
			err := x.StartResponse(&t.head)
			t.head = Head{} // C memory: not to be seen after the call
			if err != nil {
				o.Failed, o.Err = true, err
				t.finish(&o, kind)
				return o
			}
			t.headersSent = true
		}
		o.HeadersSent = t.headersSent
		switch kind {
		case C.GW_FULL:
			if park {
				if parked := t.parkLargeBody(r); parked != nil {
					o.Parked = parked
					return o
				}
			}
			for _, iov := range unsafe.Slice(r.iov, int(r.iov_count)) {
				if err := x.Write(cBytes((*C.char)(iov.iov_base), iov.iov_len)); err != nil {
					o.Failed, o.Err = true, err
					break
				}
			}
			return o
		case C.GW_END:
			return o
		case C.GW_CHUNK:
			iov := unsafe.Slice(r.iov, 1)[0]
			if err := x.Stream(cBytes((*C.char)(iov.iov_base), iov.iov_len)); err != nil {
				o.Failed, o.Err = true, err
				t.finish(&o, kind)
				return o
			}
			C.gw_request_next(t.c, t.res)
		case C.GW_FILE:
			f, err := openFileAt(int(r.file_fd), int64(r.file_offset))
			if err != nil {
				o.Failed, o.Err = true, err
				t.finish(&o, kind)
				return o
			}
			if !park {
				if err := x.SendFile(f); err != nil {
					o.Failed, o.Err = true, err
				}
				_ = f.Close()
				t.finish(&o, kind)
				return o
			}
			// The file is sent by the caller with no Python thread
			// held: a slow download must not keep one from the app.
			parked := C.gw_request_park(t.c, t.res)
			open = false // the iterable is the caller's now
			if t.res.error != nil {
				o.Warning += C.GoStringN(t.res.error, C.int(t.res.error_len))
			}
			o.Parked = &Parked{File: f, parked: parked}
			return o
		default:
			o.Failed, o.Err = true, fmt.Errorf("pybridge: unknown result kind %d", int(kind))
			t.finish(&o, C.GW_CHUNK)
			return o
		}
	}
}

// finish closes the app's iterable when the result left it open.
func (t *Thread) finish(o *Outcome, kind C.int) {
	if kind != C.GW_CHUNK && kind != C.GW_FILE {
		return // GW_FULL, GW_END and GW_ERROR are closed by C already
	}
	C.gw_request_close(t.c, t.res)
	if t.res.error != nil {
		o.Warning += C.GoStringN(t.res.error, C.int(t.res.error_len))
	}
}

// Parked is the rest of a response left for Go to send with no Python
// thread held, then to release with CloseParked:
//   - File: a wsgi.file_wrapper's file, a duplicate of the app's
//     descriptor at the app's offset (close it when sent); the app's
//     iterable waits, open;
//   - Body: a list body of at least ParkBodyBytes, as views of the
//     app's bytes objects, which the parked C struct keeps alive.
type Parked struct {
	File   *os.File
	Body   [][]byte
	parked *C.gw_parked // nil if parking a file failed (the iterable is closed)
}

// ParkBodyBytes is the smallest list body that is parked: one that a slow
// client may take long to read. Smaller ones are written while the
// Python thread waits, which costs less than the second trip through the
// queue that releasing a parked body takes.
const ParkBodyBytes = C.GW_PARK_BODY_BYTES

// parkLargeBody parks a GW_FULL body of at least ParkBodyBytes, or
// returns nil (the body is written at once).
func (t *Thread) parkLargeBody(r *C.gw_result) *Parked {
	iovs := unsafe.Slice(r.iov, int(r.iov_count))
	total := 0
	for _, iov := range iovs {
		total += int(iov.iov_len)
	}
	if total < ParkBodyBytes {
		return nil
	}
	p := C.gw_request_park_body(t.c, r)
	if p == nil {
		return nil
	}
	var n C.int
	parkedIov := unsafe.Slice(C.gw_parked_iov(p, &n), int(n))
	body := make([][]byte, len(parkedIov))
	for i, iov := range parkedIov {
		body[i] = cBytes((*C.char)(iov.iov_base), iov.iov_len)
	}
	return &Parked{Body: body, parked: p}
}

// CloseParked releases a parked response on this Python thread (idle,
// between requests): close() on a file_wrapper's iterable, the body's
// objects dropped. It returns what close() raised, for the log.
func (t *Thread) CloseParked(pf *Parked) (warning string) {
	if pf.parked == nil {
		return ""
	}
	C.gw_parked_close(t.c, pf.parked, t.res)
	pf.parked = nil
	if t.res.error != nil {
		warning = C.GoStringN(t.res.error, C.int(t.res.error_len))
	}
	return warning
}

// openFileAt duplicates a Python file's descriptor, so that Go's copy
// never closes Python's file, and positions it at offset.
func openFileAt(fd int, offset int64) (*os.File, error) {
	dup, err := syscall.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("dup file_wrapper fd %d: %w", fd, err)
	}
	f := os.NewFile(uintptr(dup), "wsgi.file_wrapper")
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek file_wrapper file: %w", err)
	}
	return f, nil
}

func cPtr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// CheckFindings returns, as JSON, what the checks of Config.Check found
// since the last call (one request's worth when requests run one at a
// time), and forgets them. Call it on the thread's goroutine, between
// requests.
func (t *Thread) CheckFindings() (string, error) {
	cFn, cArg := C.CString("check_take_findings"), C.CString("")
	defer C.free(unsafe.Pointer(cFn))
	defer C.free(unsafe.Pointer(cArg))
	var out, cerr *C.char
	if C.gw_thread_support_call(t.c, cFn, cArg, &out, &cerr) != 0 {
		return "", fmt.Errorf("collect the check findings: %s", takeCString(cerr))
	}
	return takeCString(out), nil
}
