package host

import "time"

// Workers share one listening socket, and the kernel wakes all of them
// for each new connection; the first one running accepts until the
// queue is empty. A burst of connections (wrk starting, a proxy opening
// its keep-alive pool) then lands mostly on one worker and stays there
// while the others idle: 33 of 34 connections in one of two workers,
// measured, and hello at 2 workers on 16 cores at 1.0x one worker
// (docs/bench/scaling.md).
//
// acceptPacer evens that out. A worker that already holds more open
// connections than it has Python threads, and that accepted its last
// connection less than paceBurst ago, pauses paceGap before it accepts
// again; a worker woken for the same burst takes the next ones
// meanwhile. Connections that come one by one, and a worker with few
// connections, are never paced, so a lone worker or a server answering
// one request per connection accepts as fast as before.
//
// Go's accept waits in epoll, so the kernel's own remedies (a blocking
// accept(2), which queues the waiting workers in turn, or EPOLLEXCLUSIVE)
// are out of reach: a goroutine blocked in accept(2) keeps its P, and
// with GOMAXPROCS=1 the worker stalls until sysmon takes it back (tried:
// p99 13 ms against 0.8 ms). SO_REUSEPORT, a socket per worker, needs
// the master to keep a socket per worker slot; not done.
type acceptPacer struct {
	above int // open connections beyond which a burst is paced; 0: never
	last  time.Time
}

// paceBurst: accepts closer than this are a burst. paceGap: the pause,
// about the time another worker takes to wake (a var for the tests).
var (
	paceBurst = time.Millisecond
	paceGap   = 50 * time.Microsecond
)

// accepted is called after each accepted connection, with the number of
// connections this worker now holds open.
func (p *acceptPacer) accepted(open int) {
	if p.above <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < paceBurst && open > p.above {
		time.Sleep(paceGap)
		now = time.Now() // the pause is not a gap between accepts
	}
	p.last = now
}
