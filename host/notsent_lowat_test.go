package host

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func notsentLowatOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt TCP_NOTSENT_LOWAT: %v", gerr)
	}
	return v
}

// acceptOne accepts one connection from ln, dialled from this process.
func acceptOne(t *testing.T, ln net.Listener) *net.TCPConn {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("accepted %T, want *net.TCPConn (sendfile needs it unwrapped)", c)
	}
	return tc
}

func TestNotsentLowatIsSetOnAcceptedConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	// What an accepted socket has without the wrapper: the mark is not
	// inherited from the listener, which is why each connection gets it.
	before := notsentLowatOf(t, acceptOne(t, inner))
	if before == defaultNotsentLowat {
		t.Fatalf("an unwrapped connection already has %d; the test cannot tell", before)
	}
	ln := withNotsentLowat(inner, defaultNotsentLowat)
	if got := notsentLowatOf(t, acceptOne(t, ln)); got != defaultNotsentLowat {
		t.Fatalf("TCP_NOTSENT_LOWAT = %d, want %d", got, defaultNotsentLowat)
	}
}

func TestNotsentLowatZeroLeavesTheListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if ln := withNotsentLowat(inner, 0); ln != inner {
		t.Fatalf("withNotsentLowat(ln, 0) wrapped the listener: %T", ln)
	}
}

func TestNotsentLowatMustNotBeNegative(t *testing.T) {
	cfg := DefaultConfig()
	cfg.App = "app:application"
	cfg.NotsentLowat = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--tcp-notsent-lowat") {
		t.Fatalf("Validate() = %v, want an error naming --tcp-notsent-lowat", err)
	}
}

// A unix socket has no TCP options: it is accepted as before.
func TestNotsentLowatSkipsUnixSockets(t *testing.T) {
	path := t.TempDir() + "/s"
	inner, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	ln := withNotsentLowat(inner, defaultNotsentLowat)
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept on a unix socket: %v", err)
	}
	c.Close()
}
