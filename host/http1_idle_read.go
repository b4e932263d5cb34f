package host

import (
	"io"
	"net"
	"sync"
	"syscall"
)

// An idle keep-alive connection holds no read buffer: when a read for the
// next request finds nothing, the 4 KiB buffer goes back to a pool and
// the wait is done on the socket itself (syscall.RawConn); the read that
// then finds bytes takes a buffer again. Measured with 1,000 idle
// keep-alive connections: Go heap 6.8 KB each before, 2.7 KB after (the
// write buffer already left idle connections the same way, outBuffers).
// It costs no extra system call, and no pool round trip when the next
// request is already there (pipelining, a busy client).
//
// Only connections known to read straight from their socket are read
// raw: a TCP or Unix socket, or one behind the --max-connections wrapper.
// Any other (the PROXY protocol header reader, which buffers) keeps a
// buffer as before, even if it exposed a syscall.Conn.

// inBuffers holds read buffers of idle connections.
var inBuffers = sync.Pool{New: func() any {
	b := make([]byte, http1ReadBuffer)
	return &b
}}

// setUpIdleRead finds the connection's socket for readIdle; without one
// the connection keeps a read buffer for its whole life.
func (c *http1Conn) setUpIdleRead() {
	if sc, ok := readsOwnSocket(c.rwc); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.rawRead = c.readRaw // one method value per connection, not per read
		}
	}
	if c.raw == nil {
		c.in = make([]byte, http1ReadBuffer)
	}
}

// readsOwnSocket returns rwc's socket when rwc's Read is a plain read of
// it, so that reading the socket directly skips nothing.
func readsOwnSocket(rwc net.Conn) (syscall.Conn, bool) {
	if lc, ok := rwc.(*limitedConn); ok {
		rwc = lc.Conn
	}
	switch c := rwc.(type) {
	case *net.TCPConn:
		return c, true
	case *net.UnixConn:
		return c, true
	}
	return nil, false
}

// releaseIn gives the read buffer back: while the connection waits for
// another request with nothing buffered (c.r == c.w), and when it ends.
func (c *http1Conn) releaseIn() {
	if c.in == nil {
		return
	}
	if len(c.in) == http1ReadBuffer && c.inp != nil {
		*c.inp = c.in
		inBuffers.Put(c.inp)
	} // a buffer grown for a long head is left to the GC
	c.in, c.inp = nil, nil
	c.r, c.w, c.scanned = 0, 0, 0
}

// readIdle reads the next request's first bytes into c.in from its start
// (the caller has set c.r == c.w == 0: nothing is buffered), holding no
// buffer while it has to wait. It
// returns what net.Conn.Read would: the bytes read, io.EOF, or the
// socket's error (a deadline, a closed connection).
func (c *http1Conn) readIdle() (int, error) {
	c.rawN, c.rawErr = 0, nil
	if err := c.raw.Read(c.rawRead); err != nil {
		return 0, err
	}
	return c.rawN, c.rawErr
}

// readRaw is readIdle's attempt at a read, run by RawConn.Read whenever
// the socket may have bytes; false makes it wait for readiness, with the
// buffer back in the pool.
func (c *http1Conn) readRaw(fd uintptr) bool {
	if c.in == nil {
		c.inp = inBuffers.Get().(*[]byte)
		c.in = *c.inp
	}
	for {
		n, err := syscall.Read(int(fd), c.in)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			c.releaseIn()
			return false
		case err != nil:
			c.rawErr = err
		case n == 0:
			c.rawErr = io.EOF
		default:
			c.rawN = n
		}
		return true
	}
}
