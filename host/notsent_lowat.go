package host

import (
	"net"

	"golang.org/x/sys/unix"
)

// Unsent-data low-water mark (--tcp-notsent-lowat, 32 KiB by default):
// every accepted TCP connection gets Linux's TCP_NOTSENT_LOWAT, so a
// large response keeps at most that many bytes queued in the kernel
// beyond what TCP may send now, and the writer is woken to add more as
// they leave.
//
// Why: without it a socket takes up to its whole send buffer (MBs) at
// once. What the window does not let out at once is then sent from the
// softirq that handles the client's ACKs, which runs on the client's
// cpu, not by the writing thread. With the client on the same host (a
// proxy, a sidecar, the benchmark's wrk) that work slows the client.
// Measured on the 2-cpu dev VM, wrk on cpu 0 and the server on cpu 1, a
// 100 MB wsgi.file_wrapper (sendfile) download at 4 connections, 4
// interleaved rounds of 4 s each:
//   - without the mark: 1.6-1.7 GB/s (bare Go net/http 1.7-2.1); wrk's
//     cpu spent 25 % in softirq and was the bottleneck;
//   - 8 and 16 KiB: 2.4-2.9 GB/s; 32 KiB: 2.1-2.6; 64 KiB: 1.8-2.6;
//     128 KiB: 1.6-2.6, i.e. most of the gain gone;
//   - wrk's softirq share fell to 8-17 %; the server's cpu per GB stayed
//     within the noise (0.21-0.28 cpu-s/GB against 0.24).
//
// 32 KiB rather than 16 leaves a remote client's connection more queued
// bytes to send between two wake-ups of a busy writer. The mark bounds
// only what waits unsent, never what is in flight, so it does not cap a
// connection's window.
//
// It is set on each accepted socket, one setsockopt(2) per connection:
// an accepted socket does not inherit it from the listening one
// (checked on Linux 6.18; TestNotsentLowatIsSetOnAcceptedConnections).
// Hello with a new connection per request lost at most ~3 % to it.
const defaultNotsentLowat = 32 << 10

// lowatListener sets TCP_NOTSENT_LOWAT on every TCP connection it
// accepts. The connection is returned unwrapped, so sendfile(2) still
// sees a *net.TCPConn.
type lowatListener struct {
	net.Listener
	bytes int
}

// withNotsentLowat wraps ln; 0 leaves the system's setting
// (net.ipv4.tcp_notsent_lowat) and returns ln as it is.
func withNotsentLowat(ln net.Listener, bytes int) net.Listener {
	if bytes <= 0 {
		return ln
	}
	return &lowatListener{Listener: ln, bytes: bytes}
}

func (l *lowatListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// Best effort: a socket that refuses it still serves, as before.
		_ = setNotsentLowat(tc, l.bytes)
	}
	return c, nil
}

func setNotsentLowat(c *net.TCPConn, bytes int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, bytes)
	}); err != nil {
		return err
	}
	return serr
}
