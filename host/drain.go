package host

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker tracks connections accepted but not yet past their first
// request (net/http's StateNew), through the server's ConnState hook.
//
// Why: http.Server.Shutdown drops a request that it reads after shutdown
// began, without an answer (the client sees EOF), and a connection
// accepted just before the listener closed is exactly that. Requests
// already in progress are safe (Shutdown waits for them), and idle
// keep-alive connections are closed either way. So a drain stops
// accepting, turns keep-alives off, waits (up to freshGrace) for these
// fresh connections to be answered, and only then calls Shutdown.
//
// The hook runs on every request (Active, Idle), so that path is one
// atomic load while no fresh connection exists.
type connTracker struct {
	mu    sync.Mutex
	fresh map[net.Conn]struct{}
	count atomic.Int64 // len(fresh)
}

func newConnTracker() *connTracker {
	return &connTracker{fresh: map[net.Conn]struct{}{}}
}

func (t *connTracker) hook(c net.Conn, s http.ConnState) {
	if s != http.StateNew && t.count.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s == http.StateNew {
		t.fresh[c] = struct{}{}
	} else if _, ok := t.fresh[c]; ok {
		delete(t.fresh, c)
	} else {
		return
	}
	t.count.Store(int64(len(t.fresh)))
}

// waitIdle waits until no fresh connection is left, until, or ctx ends.
func (t *connTracker) waitIdle(ctx context.Context, until time.Time) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for t.count.Load() > 0 && time.Now().Before(until) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drain stops srv, and fast when not nil, without dropping a request
// either has accepted: no new connections, no more keep-alive, every
// fresh connection's request answered, then Shutdown (which waits for
// requests in progress and closes idle connections).
func drain(ctx context.Context, srv *http.Server, fast *http1Front, listeners []net.Listener, t *connTracker) error {
	closeAll(listeners)
	srv.SetKeepAlivesEnabled(false)
	freshUntil := time.Now().Add(freshGrace)
	if fast != nil {
		freshUntil = fast.beginClosing().Add(freshGrace)
	}
	// A fresh connection that sends nothing within freshGrace is
	// someone's spare: the fast path closes it, and net/http's Shutdown
	// closes one older than 5 s and waits for the others.
	t.waitIdle(ctx, freshUntil)
	// The fast path first: while it finishes, a connection of its that
	// hands a request to net/http (a chunked POST) is still answered,
	// which net/http would not do once its Shutdown began.
	if fast != nil {
		if err := fast.shutdown(ctx); err != nil {
			return err
		}
	}
	err := srv.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		err = nil // Shutdown closing the listeners we closed above
	}
	return err
}
