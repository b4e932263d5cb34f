package host

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker counts connections that have a request on its way or in
// progress (net/http's StateNew and StateActive), through the server's
// ConnState hook.
//
// Why: http.Server.Shutdown drops a request that it reads after shutdown
// began, without an answer (the client sees EOF), and a connection
// accepted just before the listener closed is exactly that. So a drain
// first stops accepting and turns keep-alives off, then waits for these
// connections to be answered, and only then calls Shutdown.
type connTracker struct {
	mu     sync.Mutex
	states map[net.Conn]http.ConnState
	busy   int
}

func newConnTracker() *connTracker {
	return &connTracker{states: map[net.Conn]http.ConnState{}}
}

func busyState(s http.ConnState) bool { return s == http.StateNew || s == http.StateActive }

func (t *connTracker) hook(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev, known := t.states[c]
	if known && busyState(prev) {
		t.busy--
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(t.states, c)
		return
	}
	t.states[c] = s
	if busyState(s) {
		t.busy++
	}
}

// waitIdle waits until no connection is busy, or ctx ends.
func (t *connTracker) waitIdle(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		busy := t.busy
		t.mu.Unlock()
		if busy == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// drain stops srv without dropping a request it has accepted: no new
// connections, no more keep-alive, every started request answered, then
// Shutdown for what is left (idle connections).
func drain(ctx context.Context, srv *http.Server, listeners []net.Listener, t *connTracker) error {
	closeAll(listeners)
	srv.SetKeepAlivesEnabled(false)
	t.waitIdle(ctx)
	err := srv.Shutdown(ctx)
	if errors.Is(err, net.ErrClosed) {
		return nil // Shutdown closing the listeners we closed above
	}
	return err
}
