package host

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/gowsgi/gowsgi/pybridge"
)

// errBodyOverflow: the app produced more bytes than its Content-Length.
// The declared bytes went out, the rest was dropped; the response is whole.
var errBodyOverflow = errors.New("the app sent more body bytes than its Content-Length")

// errClientGone: the client went away while the response was streaming.
var errClientGone = errors.New("client disconnected")

// exchange implements pybridge.Exchange over net/http for one request.
// Its methods run on the Python thread's goroutine while the handler
// goroutine waits, so they never race with the handler.
type exchange struct {
	w             http.ResponseWriter
	r             *http.Request
	head          responseHead
	headerWritten bool
	written       int64
	log           *Logger
	// timedOut: the request ran past --request-timeout and was
	// interrupted; its response is replaced with a 504 if still possible.
	timedOut bool
}

func (x *exchange) reset(w http.ResponseWriter, r *http.Request, log *Logger) {
	*x = exchange{w: w, r: r, log: log}
}

func (x *exchange) StartResponse(h *pybridge.Head) error {
	head, err := applyHead(h, x.w.Header())
	if err != nil {
		return err
	}
	if len(head.dropped) > 0 {
		x.log.Warningf("%s %s: dropped hop-by-hop response headers %v (PEP 3333 forbids them)", x.r.Method, x.r.URL.Path, head.dropped)
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
	x.writeHeader()
	if cl := x.head.contentLength; cl >= 0 && x.written+int64(len(p)) > cl {
		p = p[:cl-x.written]
		if len(p) > 0 {
			if _, err := x.write(p); err != nil {
				return err
			}
		}
		return errBodyOverflow
	}
	_, err := x.write(p)
	return err
}

func (x *exchange) write(p []byte) (int, error) {
	n, err := x.w.Write(p)
	x.written += int64(n)
	if errors.Is(err, http.ErrBodyNotAllowed) {
		return n, nil // 204/304: the body is dropped, as HTTP requires
	}
	if err != nil {
		return n, fmt.Errorf("%w: %v", errClientGone, err)
	}
	return n, nil
}

// Flush pushes a streamed chunk to the client now (PEP 3333: no buffering
// of iterable output) and notices a client that has left.
func (x *exchange) Flush() error {
	x.writeHeader()
	if err := x.r.Context().Err(); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	if err := http.NewResponseController(x.w).Flush(); err != nil {
		return fmt.Errorf("%w: %v", errClientGone, err)
	}
	return nil
}

// SendFile copies f to the client; net/http uses sendfile(2) for it when
// the length is known, so no Python runs per byte.
func (x *exchange) SendFile(f *os.File) error {
	remaining := x.head.contentLength
	if remaining < 0 && !x.headerWritten {
		if size, err := fileRemaining(f); err == nil {
			x.w.Header().Set("Content-Length", fmt.Sprint(size))
			x.head.contentLength = size
			remaining = size
		}
	}
	x.writeHeader()
	var src io.Reader = f
	if remaining >= 0 {
		src = io.LimitReader(f, remaining-x.written)
	}
	n, err := io.Copy(x.w, src)
	x.written += n
	if err != nil {
		return fmt.Errorf("%w: sendfile: %v", errClientGone, err)
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
	return x.r.Body.Read(p)
}

// finish sends the head of a response that had no body bytes at all.
func (x *exchange) finish() {
	if x.head.code != 0 {
		x.writeHeader()
	}
}
