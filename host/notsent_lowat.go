package host

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// Unsent-data low-water mark (--tcp-notsent-lowat, 32 KiB by default):
// while the fast HTTP/1.1 path sends a file with sendfile(2) (a
// wsgi.file_wrapper, a --static file), the connection has Linux's
// TCP_NOTSENT_LOWAT, so the kernel holds at most that many bytes of it
// beyond what TCP may send now and wakes the writer to add more as they
// leave. Afterwards the socket gets back the setting it had.
//
// Why: without it one sendfile call fills the socket's whole send buffer
// (MBs) from the page cache. What the window does not let out at once is
// then sent from the softirq that handles the client's ACKs, which runs
// on the client's cpu, not by the writing thread. With the client on the
// same host (a proxy, a sidecar, the benchmark's wrk) that work slows the
// client. Measured (docs/bench/budget.md, "Where wrk's cpu went"; the
// server on one cpu, wrk on the other): a 100 MB download went from
// 1.4-2.0 to 2.1-2.8 GB/s with 32 KiB (bare Go net/http 1.6-2.1), and
// the share of wrk's cpu spent in softirq from 25-29 % to 17 %; 128 KiB
// gave back most of the gain. The server's cpu per GB did not move
// beyond the noise. 32 KiB rather than 16 leaves a remote client's
// connection more queued bytes between two wake-ups of a busy writer;
// the mark bounds only what waits unsent, never what is in flight.
//
// Why only for sendfile: bodies written from memory gain little (they
// are copied by the writer anyway) and their tail got worse. With the
// mark on every connection, 1 MiB responses from two unpinned workers
// had a p99 of 19-24 ms against 13-15 ms without, at the same rate.
// Reading, setting and restoring it costs three system calls per file
// sent (per 512 KiB piece for a file_wrapper), nothing per connection.
const defaultNotsentLowat = 32 << 10

// raiseNotsentLowat sets the socket's TCP_NOTSENT_LOWAT to bytes and
// returns what it had, for restoreNotsentLowat. ok is false when the
// socket refuses the option (a unix socket): nothing changed.
func raiseNotsentLowat(raw syscall.RawConn, bytes int) (before int, ok bool) {
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		before, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		if err == nil {
			err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, bytes)
		}
	}); cerr != nil || err != nil {
		return 0, false
	}
	return before, true
}

// restoreNotsentLowat puts back what raiseNotsentLowat returned.
func restoreNotsentLowat(raw syscall.RawConn, before int) {
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, before)
	})
}
