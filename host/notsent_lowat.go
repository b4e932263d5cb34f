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
// Measured (docs/bench/budget.md, "Where wrk's cpu went"; the server on
// one cpu, wrk on the other): a 100 MB wsgi.file_wrapper (sendfile)
// download went from 1.4-2.0 to 2.1-2.8 GB/s with 32 KiB (bare Go
// net/http 1.6-2.1), and the share of wrk's cpu spent in softirq from
// 25-29 % to 17 %; 128 KiB gave back most of the gain. The server's cpu
// per GB did not move beyond the noise.
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
