package host

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// http1Front serves plain-text HTTP/1.1 listeners with gowsgi's own
// request loop (http1Conn) instead of net/http's, because net/http's
// per-request cost was the ceiling of the small-request benchmarks: on
// this project's 2-core VM, net/http answered 52,000 10 KB GETs a second
// where a loop like this one answered 64,000-70,000 through the same
// http.Handler (docs/bench/budget.md, "2026-11-24").
//
// It is a fast path, not a second HTTP implementation: it takes only the
// plain request shape (see parseHead) and hands every other connection,
// at a request boundary and with the bytes it read, to the same
// net/http server. So chunked bodies, Expect: 100-continue, upgrades,
// HTTP/1.0 and every malformed request get exactly net/http's handling.
// TLS listeners (HTTP/2 by ALPN) never come here.
type http1Front struct {
	handler       http.Handler
	log           *Logger
	conns         *connTracker
	headerTimeout time.Duration
	idleTimeout   time.Duration
	maxHead       int // longest head the fast path reads before handing off
	blanks        blankRequests
	handoff       *handoffListener

	closing atomic.Bool
	// closingBegan: when closing was first set (unix ns), for freshGrace.
	closingBegan atomic.Int64
	loops        sync.WaitGroup // the accept loops, for shutdown
	mu           sync.Mutex
	live         map[*http1Conn]struct{}
	lns          []net.Listener

	// paceAbove: in a worker that shares its sockets with other workers,
	// the open connections beyond which bursts are paced (accept_pace.go).
	paceAbove int
	// notsentLowat: TCP_NOTSENT_LOWAT while a file is sent with
	// sendfile(2), 0 for none (notsent_lowat.go).
	notsentLowat int
}

func newHTTP1Front(srv *http.Server, conns *connTracker, logger *Logger, addr net.Addr) *http1Front {
	return &http1Front{
		handler:       srv.Handler,
		log:           logger,
		conns:         conns,
		headerTimeout: srv.ReadHeaderTimeout,
		idleTimeout:   srv.IdleTimeout,
		maxHead:       min(http1MaxHead, maxHeaderBytes(srv)+4096), // net/http's read limit
		blanks:        blankRequests{base: context.WithValue(context.Background(), http.ServerContextKey, srv)},
		handoff:       newHandoffListener(addr),
		live:          map[*http1Conn]struct{}{},
	}
}

func maxHeaderBytes(srv *http.Server) int {
	if srv.MaxHeaderBytes > 0 {
		return srv.MaxHeaderBytes
	}
	return http.DefaultMaxHeaderBytes
}

// serve accepts connections from ln until it is closed. Errors other
// than a closed listener (EMFILE, say) are logged and retried with a
// growing pause, as net/http does.
func (f *http1Front) serve(ln net.Listener) error {
	f.loops.Add(1)
	defer f.loops.Done()
	f.mu.Lock()
	f.lns = append(f.lns, ln)
	f.mu.Unlock()
	var pause time.Duration
	pacer := acceptPacer{above: f.paceAbove}
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || f.closing.Load() {
				return http.ErrServerClosed
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			f.log.Errorf("http: accept error: %v; retrying in %v", err, pause)
			time.Sleep(pause)
			continue
		}
		pause = 0
		// Counted before Accept is called again, so that a drain that
		// follows sees it: fresh for the tracker, live for shutdown.
		f.conns.hook(rwc, http.StateNew)
		c := &http1Conn{front: f, rwc: rwc}
		f.mu.Lock()
		f.live[c] = struct{}{}
		open := len(f.live)
		f.mu.Unlock()
		go c.serve()
		pacer.accepted(open)
	}
}

func (f *http1Front) forget(c *http1Conn) {
	f.mu.Lock()
	delete(f.live, c)
	f.mu.Unlock()
}

// freshGrace is how long shutdown waits for the first byte of a
// connection that was accepted but has sent nothing. A client that
// connected just before the listener closed sends its request within a
// round trip; a socket opened ahead of need (a browser's preconnect, an
// HTTP client's spare dial) may send nothing for as long as
// --header-timeout, and used to hold the shutdown that long (10 s).
// net/http gives such connections 5 s.
const freshGrace = time.Second

// shutdown stops keep-alive, ends idle connections (and, after
// freshGrace, connections that have sent nothing) and waits until the
// requests in progress are answered (every response from now on says
// Connection: close), or ctx ends. Like http.Server.Shutdown.
func (f *http1Front) shutdown(ctx context.Context) error {
	began := f.beginClosing()
	// Close the listeners (drain did already) and wait for the accept
	// loops to notice, so that no connection accepted meanwhile is missed
	// below.
	f.mu.Lock()
	for _, ln := range f.lns {
		_ = ln.Close()
	}
	f.mu.Unlock()
	loopsDone := make(chan struct{})
	go func() { f.loops.Wait(); close(loopsDone) }()
	select {
	case <-loopsDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		f.mu.Lock()
		n := len(f.live)
		freshOver := time.Since(began) >= freshGrace
		for c := range f.live {
			if c.idle.Load() || (freshOver && c.fresh.Load()) {
				// Wakes its read; it sees closing (or nothing read)
				// and ends.
				_ = c.rwc.SetReadDeadline(time.Now())
			}
		}
		f.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// beginClosing turns keep-alive off (every response from now on says
// Connection: close) and returns when that first happened.
func (f *http1Front) beginClosing() time.Time {
	f.closingBegan.CompareAndSwap(0, time.Now().UnixNano())
	f.closing.Store(true)
	return time.Unix(0, f.closingBegan.Load())
}

// close ends every connection now (http.Server.Close).
func (f *http1Front) close() {
	if f == nil {
		return
	}
	f.closing.Store(true)
	f.mu.Lock()
	for c := range f.live {
		_ = c.rwc.Close()
	}
	f.mu.Unlock()
	_ = f.handoff.Close()
}

// handoffListener is how connections reach net/http from the fast path:
// http.Server.Serve accepts them from here.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (l *handoffListener) give(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close() // net/http has shut down
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

var _ net.Conn = (*prefixConn)(nil)

// prefixConn is a connection whose first bytes were already read: Read
// returns them before reading the socket again.
type prefixConn struct {
	net.Conn
	prefix []byte

	// For the log line of a request net/http refuses (http1_rejected.go).
	log   *Logger
	head  []byte // prefix as handed over: its first line, if refused
	wrote bool   // a response went out: the first request was answered
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps sendfile(2) available to net/http through the wrapper.
func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// CloseWrite lets net/http half-close the connection, as on a TCPConn.
func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }
