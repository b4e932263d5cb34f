package host

import (
	"errors"
	"io"
	"net"
	"sync"
)

// limitListener holds at most n connections open at once (--max-connections);
// Accept waits while the limit is reached, so further clients queue in the
// kernel's backlog instead of being refused. Close ends that wait: since
// Go 1.26 http.Server.Shutdown and Close wait for Serve's Accept to return
// before they look at their context, so a wait that ignored Close would
// hang a drain (even SIGQUIT) until some connection ended.
type limitListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func limitConnections(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, l.closedErr()
	}
	// select picks at random when both were ready: a closed listener
	// hands out no more connections.
	select {
	case <-l.done:
		<-l.slots
		return nil, l.closedErr()
	default:
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// closedErr is what Accept on a closed TCP or Unix listener returns.
func (l *limitListener) closedErr() error {
	addr := l.Listener.Addr()
	return &net.OpError{Op: "accept", Net: addr.Network(), Addr: addr, Err: net.ErrClosed}
}

// Close wakes an Accept waiting for a slot and closes the listener. It may
// be called more than once (a drain closes, then http.Server.Shutdown):
// every call reaches the inner listener, which answers as it would bare.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadFrom keeps sendfile(2) available through the wrapper.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps the half-close that avoids a reset (net/http's
// closeWriteAndWait, http1Conn.close after a 413) working through the
// wrapper, as on a TCPConn or UnixConn. The socket itself (SyscallConn,
// for idle reads and TCP_NOTSENT_LOWAT) is found by readsOwnSocket, which
// looks through this wrapper.
func (c *limitedConn) CloseWrite() error { return closeWrite(c.Conn) }

// closeWrite half-closes c where it can: a listener wrapper's connection
// must offer CloseWrite whenever the connection it wraps does.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
