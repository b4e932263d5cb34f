package host

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// listenLimited returns a loopback listener limited to n connections,
// closed at the end of the test.
func listenLimited(t *testing.T, n int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := limitConnections(ln, n)
	t.Cleanup(func() { _ = lim.Close() })
	return lim
}

// dialAccept opens a loopback connection through ln and returns both ends,
// closed at the end of the test.
func dialAccept(t *testing.T, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// An Accept waiting for a slot returns net.ErrClosed once the listener is
// closed, instead of waiting for a connection to end.
func TestConnLimitCloseWakesAccept(t *testing.T) {
	ln := listenLimited(t, 1)
	dialAccept(t, ln) // holds the only slot

	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		got <- result{c, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("Accept returned with every slot held: %v, %v", r.c, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-got:
		if r.c != nil {
			_ = r.c.Close()
			t.Fatalf("Accept after Close returned a connection")
		}
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", r.err)
		}
	case <-time.After(time.Second):
		// The connection's Close (cleanup) frees the slot and lets the
		// goroutine end.
		t.Fatal("Accept still waits for a slot 1s after Close")
	}
	// A second Close is harmless, and Accept keeps failing.
	_ = ln.Close()
	if c, err := ln.Accept(); c != nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v, %v", c, err)
	}
}

// http.Server.Shutdown finishes by its context even while long-lived
// connections hold every slot (Go 1.26 waits for Serve's Accept first).
func TestConnLimitShutdownWithSlotsHeld(t *testing.T) {
	ln := listenLimited(t, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	end := func() { releaseOnce.Do(func() { close(release) }) }
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release // an endless stream
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := io.WriteString(client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the handler")
	}
	defer func() {
		end()
		_ = srv.Close()
		<-served
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want its context's deadline", err)
		}
	case <-time.After(2 * time.Second):
		end() // let Shutdown and Serve end before failing
		<-shut
		t.Fatal("Shutdown ignored its context while every slot was held")
	}
}

// A limited connection half-closes like the TCPConn it wraps: the peer
// reads what was written and then EOF, and can still send.
func TestConnLimitCloseWrite(t *testing.T) {
	checkCloseWrite(t, listenLimited(t, 1))
}

// The PROXY-protocol wrapper half-closes too (a peer not on its allow
// list: the bytes flow untouched).
func TestProxyProtocolCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := acceptProxyProtocol(ln, ProxyProtocolAuto, nil, time.Second, NewLogger(io.Discard, LevelCritical))
	t.Cleanup(func() { _ = pl.Close() })
	checkCloseWrite(t, pl)
}

// checkCloseWrite checks that a connection accepted from ln half-closes:
// the peer reads what was sent, then EOF, and can still send.
func checkCloseWrite(t *testing.T, ln net.Listener) {
	t.Helper()
	client, server := dialAccept(t, ln)
	cw, ok := server.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", server)
	}
	if _, err := io.WriteString(server, "413"); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	_ = server.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(client)
	if err != nil || string(b) != "413" {
		t.Fatalf("peer read %q, %v; want \"413\" then EOF", b, err)
	}
	if _, err := io.WriteString(client, "rest of body"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "rest of body" {
		t.Fatalf("read after CloseWrite: %q, %v", buf[:n], err)
	}
}
