package host

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// http1Conn is one plain HTTP/1.1 connection on the fast path: requests
// are parsed from its read buffer into one reused *http.Request and
// answered through one reused http1Response, so a keep-alive request
// costs a handful of allocations where net/http spends about twenty.
// The first request it cannot take as it is goes, with the connection,
// to net/http (handOff).
type http1Conn struct {
	front *http1Front
	rwc   net.Conn

	in   []byte  // read buffer; the unread bytes are in[r:w]; nil while idle
	inp  *[]byte // in's pool entry (inBuffers)
	r, w int
	// scanned is how far in[r:w] was searched for the head's end.
	scanned int

	out  []byte  // response bytes not yet written; nil between responses
	outp *[]byte // out's pool entry (outBuffers)
	vals []string

	req *http.Request
	// blank is an empty request carrying the connection's context (see
	// blankRequests), shared with the listener's other connections: each
	// request starts as a copy of it, so nothing a handler set on the
	// last one (path values, say) survives. remoteAddr and header are
	// then set from the connection's own.
	blank      *http.Request
	remoteAddr string
	header     http.Header
	url        url.URL
	resp       http1Response
	body       http1Body

	date    []byte
	dateSec int64

	// skipCRLF: up to this many CR or LF bytes before the next request
	// are dropped; net/http allows them after a POST (clients that end
	// the body with an extra CRLF).
	skipCRLF int

	// Deadlines a handler set (body and write timeouts): cleared before
	// they can hit the next request, or net/http after a hand-off.
	readDeadlineSet, writeDeadlineSet bool

	// The socket, for waiting with no read buffer (http1_idle_read.go);
	// nil when the connection does not expose it.
	raw     syscall.RawConn
	rawRead func(fd uintptr) bool
	rawN    int
	rawErr  error
	// idle: waiting for another request with nothing buffered; shutdown
	// may then end the connection (see http1Front.shutdown).
	idle atomic.Bool
	// fresh: accepted, and not a byte of its first request came yet;
	// shutdown ends it after freshGrace.
	fresh atomic.Bool
}

const (
	http1ReadBuffer  = 4 << 10  // as net/http's bufio.Reader
	http1WriteBuffer = 4 << 10  // grows to http1MaxCoalesce on demand
	http1MaxCoalesce = 32 << 10 // bodies up to this join the head in one write
	http1MaxHead     = 16 << 10 // larger heads go to net/http (or MaxHeaderBytes+4 KiB)
)

// setUp readies a connection for its first request, on its own goroutine:
// a PROXY-protocol connection's addresses are known only once its header
// came.
func (c *http1Conn) setUp() {
	f, rwc := c.front, c.rwc
	c.setUpIdleRead()
	c.blank = f.blanks.get(rwc.LocalAddr())
	c.remoteAddr = rwc.RemoteAddr().String()
	c.header = http.Header{}
	c.req = new(http.Request)
	c.body.c = c
}

// serve answers requests until the connection ends or is handed off.
func (c *http1Conn) serve() {
	c.setUp()
	f := c.front
	handedOff := false
	defer func() {
		if !handedOff {
			c.close()
			f.conns.hook(c.rwc, http.StateClosed)
		}
		c.releaseIn() // (a hand-off took a copy of what was buffered)
		f.forget(c)
	}()
	for first := true; ; first = false {
		end, ok := c.readHead(first)
		if !ok {
			return
		}
		if end < 0 || !c.parse(end) {
			handedOff = true
			c.handOff()
			return
		}
		if c.r == c.w && c.raw != nil {
			// The head was copied out and nothing else is buffered: while
			// the request waits for Python, it holds no read buffer
			// (1,000 queued requests: 4 MB). A body is read straight into
			// the reader's slice, and the next head takes a buffer again.
			c.releaseIn()
		}
		f.conns.hook(c.rwc, http.StateActive)
		if !c.serveRequest() || f.closing.Load() {
			return
		}
		f.conns.hook(c.rwc, http.StateIdle)
	}
}

// close ends the connection, after what is still buffered for it. With
// request body bytes left unread (a 413 before the body, say) it closes
// as net/http does: FIN first, then a pause, so the client reads the
// response instead of a reset.
func (c *http1Conn) close() {
	_ = c.flush()
	if c.body.remaining > 0 && c.body.err == nil {
		if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
			time.Sleep(500 * time.Millisecond) // net/http's rstAvoidanceDelay
		}
	}
	_ = c.rwc.Close()
}

// readHead reads until in[r:] holds a whole request head and returns the
// index just past it. end < 0 means the head does not fit in
// http1MaxHead (net/http then takes the connection and answers 431 when
// it passes --limit-request-field_size's bound); ok is false when the
// connection ended or timed out before a request came.
func (c *http1Conn) readHead(first bool) (end int, ok bool) {
	f := c.front
	// Deadlines, as net/http sets them: a keep-alive connection waits
	// --keep-alive for the next request's first byte, then has
	// --header-timeout for the rest of the head. The first request, and
	// one already begun in the buffer (pipelined), get --header-timeout
	// now. Only a keep-alive wait with nothing buffered counts as idle,
	// which shutdown may end.
	headStart := time.Time{}
	wait := f.headerTimeout
	if c.r == c.w {
		c.r, c.w, c.scanned = 0, 0, 0
		if !first && f.idleTimeout > 0 {
			wait = f.idleTimeout
		}
		if !first {
			c.idle.Store(true)
			if f.closing.Load() {
				return 0, false
			}
		} else {
			c.fresh.Store(true)
		}
	} else {
		headStart = time.Now()
	}
	switch {
	case wait > 0:
		_ = c.rwc.SetReadDeadline(time.Now().Add(wait))
		c.readDeadlineSet = true
	case c.readDeadlineSet: // a handler's body deadline: not for this wait
		_ = c.rwc.SetReadDeadline(time.Time{})
		c.readDeadlineSet = false
	}
	for {
		for c.skipCRLF > 0 && c.r < c.w && (c.in[c.r] == '\r' || c.in[c.r] == '\n') {
			c.r++
			c.skipCRLF--
		}
		if c.r < c.w {
			c.skipCRLF = 0
		}
		if n := headEnd(c.in[c.r+c.scanned : c.w]); n >= 0 {
			end = c.r + c.scanned + n
			c.scanned = 0
			c.busy()
			if end-c.r > f.maxHead {
				return -1, true // over net/http's limit: its 431
			}
			if c.readDeadlineSet {
				_ = c.rwc.SetReadDeadline(time.Time{}) // body reads set their own
				c.readDeadlineSet = false
			}
			return end, true
		}
		c.scanned = max(c.w-c.r-2, 0)
		if c.r < c.w && headStart.IsZero() && f.headerTimeout > 0 && !first {
			// A head has begun but is not whole: the idle wait is over,
			// and the rest must come within the header timeout, as under
			// net/http. (A head that came whole in one read, the usual
			// case, never gets here: one deadline less per request.)
			c.busy()
			headStart = time.Now()
			_ = c.rwc.SetReadDeadline(headStart.Add(f.headerTimeout))
			c.readDeadlineSet = true
		}
		var n int
		var err error
		if c.r == c.w && c.raw != nil {
			// Nothing buffered (the CRLF skip above may have eaten the
			// rest): read from the start, with no buffer held meanwhile.
			c.r, c.w, c.scanned = 0, 0, 0
			n, err = c.readIdle()
		} else {
			if c.w == len(c.in) {
				if c.r > 0 { // make room: move the partial head to the front
					n := copy(c.in, c.in[c.r:c.w])
					c.r, c.w = 0, n
				} else if len(c.in) < f.maxHead {
					c.in = append(c.in, make([]byte, f.maxHead-len(c.in))...)
				} else {
					c.busy()
					return -1, true
				}
			}
			n, err = c.rwc.Read(c.in[c.w:])
		}
		c.w += n
		if n > 0 && c.fresh.Load() {
			c.busy()
		}
		if err != nil {
			if c.w > c.r && !errors.Is(err, io.EOF) && !isTimeout(err) {
				c.front.log.Debugf("http: reading a request from %s: %v", c.rwc.RemoteAddr(), err)
			}
			return 0, false
		}
	}
}

// headEnd returns the length of the head at the start of b, up to and
// including its empty line, or -1 if b does not hold a whole head yet.
// A head whose empty line is a bare LF ends there too; parseHead then
// refuses it and net/http answers it, as it accepts bare LFs.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// busy ends the idle wait, or a fresh connection's wait for its first
// byte. Under the front's lock, so that shutdown, which wakes such
// connections by setting a read deadline of now, cannot do so after this:
// the caller clears an idle wait's deadline next, and the request read
// meanwhile is served. A fresh connection whose deadline shutdown may
// already have cut gets --header-timeout again for the rest of its head.
func (c *http1Conn) busy() {
	if !c.idle.Load() && !c.fresh.Load() {
		return
	}
	f := c.front
	f.mu.Lock()
	c.idle.Store(false)
	if c.fresh.Swap(false) && f.closing.Load() {
		if f.headerTimeout > 0 {
			_ = c.rwc.SetReadDeadline(time.Now().Add(f.headerTimeout))
		} else {
			_ = c.rwc.SetReadDeadline(time.Time{})
		}
	}
	f.mu.Unlock()
}

// parse turns in[r:end] into c.req; false leaves the request to net/http.
func (c *http1Conn) parse(end int) bool {
	*c.req = *c.blank
	c.req.RemoteAddr, c.req.Header = c.remoteAddr, c.header
	c.req.URL = &c.url
	if !parseHead(string(c.in[c.r:end]), c.req, &c.vals) {
		return false
	}
	c.r = end
	if c.req.Method == http.MethodPost {
		c.skipCRLF = 4
	}
	if c.req.ContentLength > 0 {
		c.body.remaining = c.req.ContentLength
		c.body.err = nil
		c.body.closed = false
		c.req.Body = &c.body
	} else {
		c.body.remaining = 0
		c.req.Body = http.NoBody
	}
	return true
}

// serveRequest runs the handler on c.req and completes its response. It
// reports whether the connection can take another request.
func (c *http1Conn) serveRequest() (keep bool) {
	c.resp.reset(c, c.req)
	defer func() {
		if v := recover(); v != nil {
			// As net/http: ErrAbortHandler cuts the response quietly;
			// any other panic is logged. Either way the connection ends.
			if v != http.ErrAbortHandler {
				c.front.log.Errorf("http: panic serving %s: %v\n%s", c.req.RemoteAddr, v, debug.Stack())
			}
			keep = false // close flushes what was written, as net/http's does
		}
	}()
	c.front.handler.ServeHTTP(&c.resp, c.req)
	keep = c.resp.finish()
	if keep && c.body.remaining > 0 {
		// Unread body after a response that went out early (streamed):
		// skip it to reach the next request, or give up on the connection.
		keep = c.body.remaining <= maxUnreadBodyDiscard && c.body.discard() == nil
	}
	c.clearWriteDeadline()
	c.releaseOut()
	c.resp.releaseHeader()
	return keep
}

// handOff gives the connection to net/http with the bytes already read
// of the request the fast path does not take, and no deadline of ours.
func (c *http1Conn) handOff() {
	_ = c.rwc.SetReadDeadline(time.Time{})
	c.clearWriteDeadline()
	prefix := bytes.Clone(c.in[c.r:c.w])
	pc := &prefixConn{Conn: c.rwc, prefix: prefix, log: c.front.log, head: prefix}
	// Fresh under its new name before the old one goes, so that a drain
	// never sees a moment with neither (net/http marks it again).
	c.front.conns.hook(pc, http.StateNew)
	c.front.conns.hook(c.rwc, http.StateClosed)
	c.front.handoff.give(pc)
}

func (c *http1Conn) clearWriteDeadline() {
	if c.writeDeadlineSet {
		_ = c.rwc.SetWriteDeadline(time.Time{})
		c.writeDeadlineSet = false
	}
}

// outBuffers holds write buffers between responses, so that an idle
// keep-alive connection holds none (1,000 idle connections: 4 MB less).
var outBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, http1WriteBuffer)
	return &b
}}

// takeOut gives the response a write buffer, once per response.
func (c *http1Conn) takeOut() {
	if c.out == nil {
		c.outp = outBuffers.Get().(*[]byte)
		c.out = (*c.outp)[:0]
	}
}

// releaseOut returns the write buffer after a response, unless a failed
// write left bytes in it or a large body grew it past keeping.
func (c *http1Conn) releaseOut() {
	if c.out == nil {
		return
	}
	if len(c.out) == 0 && cap(c.out) <= 2*http1MaxCoalesce {
		*c.outp = c.out
		outBuffers.Put(c.outp)
	}
	c.out, c.outp = nil, nil
}

// send queues p, then tail, behind c.out: copied while they fit in
// http1MaxCoalesce (one write(2) for head and body), else written out
// together in one writev(2), so the client is not woken for the head (or
// a chunk's size line) alone. tail is a chunk's closing CRLF, or nil.
func (c *http1Conn) send(p, tail []byte) error {
	if len(c.out)+len(p)+len(tail) <= max(cap(c.out), http1MaxCoalesce) {
		c.out = append(c.out, p...)
		c.out = append(c.out, tail...)
		return nil
	}
	if len(c.out) == 0 && len(tail) == 0 {
		_, err := c.rwc.Write(p)
		return err
	}
	bufs := net.Buffers{c.out, p, tail}
	_, err := bufs.WriteTo(c.rwc)
	c.out = c.out[:0]
	return err
}

// crlf ends a chunk.
var crlf = []byte("\r\n")

// flush writes c.out.
func (c *http1Conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	_, err := c.rwc.Write(c.out)
	c.out = c.out[:0]
	return err
}

func (c *http1Conn) appendDate(b []byte) []byte {
	now := time.Now()
	if sec := now.Unix(); sec != c.dateSec || c.date == nil {
		c.dateSec = sec
		c.date = now.UTC().AppendFormat(c.date[:0], http.TimeFormat)
	}
	return append(b, c.date...)
}

// http1Body is a request body of known length, read from the
// connection's buffer first, then straight into the caller's slice.
type http1Body struct {
	c         *http1Conn
	remaining int64
	err       error
	closed    bool
}

func (b *http1Body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	return b.read(p)
}

func (b *http1Body) read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	c := b.c
	var n int
	if c.r < c.w {
		n = copy(p, c.in[c.r:c.w])
		c.r += n
	} else {
		var err error
		n, err = c.rwc.Read(p)
		if err != nil && n == 0 {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // the client sent less than it said
			}
			b.err = err
			return 0, err
		}
	}
	b.remaining -= int64(n)
	return n, nil
}

// Close ends the handler's reading. As net/http's body does, it skips
// what is left up to 256 KiB so that the connection can go on; a larger
// rest closes the connection after the response.
func (b *http1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.remaining > 0 && b.remaining < maxUnreadBodyDiscard {
		_ = b.discard() // an error stays in b.err and ends the connection
	}
	return nil
}

// discard reads and drops the rest of the body, into a pooled read buffer
// (a 4 KiB array in its frame grew the goroutine's stack to 8 KB).
func (b *http1Body) discard() error {
	bp := inBuffers.Get().(*[]byte)
	defer inBuffers.Put(bp)
	for b.remaining > 0 {
		if _, err := b.read(*bp); err != nil {
			return err
		}
	}
	return nil
}
