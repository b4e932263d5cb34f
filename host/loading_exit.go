package host

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// loadingExit makes TERM, INT and QUIT end the process at once, with a
// log line and status 0, from start-up until the server takes them over
// (handOver) or the process gives up on them (stop). While the app loads there is nothing to drain. Go's
// default action for QUIT is a dump of every goroutine (a master's fast
// stop, or a Ctrl-C that a master turns into one, printed a page per
// booting worker), and for TERM and INT a silent death by the signal,
// which looked like a crash and left the pid file and socket files
// behind.
type loadingExit struct {
	quit chan os.Signal
	done chan struct{}

	mu      sync.Mutex
	cleanup []func() // run before exiting, last added first
	handed  bool     // handOver or stop was called: no exit from here on
}

func exitOnStopWhileLoading(logger *Logger) *loadingExit {
	l := &loadingExit{quit: make(chan os.Signal, 4), done: make(chan struct{})}
	signal.Notify(l.quit, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		select {
		case sig := <-l.quit:
			l.mu.Lock() // held to the exit: create adds nothing more
			if l.handed {
				// The server took over meanwhile: the signal is its to
				// handle (handOver forwards what is in l.quit).
				l.quit <- sig
				l.mu.Unlock()
				return
			}
			logger.Infof("Handling signal: %s while the app loads; exiting", signalName(sig))
			for i := len(l.cleanup) - 1; i >= 0; i-- {
				l.cleanup[i]()
			}
			os.Exit(0)
		case <-l.done:
		}
	}()
	return l
}

// create runs open, which makes something that an exit must undo (socket
// files, the pid file), and adds the cleanup it returns, with no gap for a
// stop signal to fall into: the exit waits until open has returned.
func (l *loadingExit) create(open func() (cleanup func(), err error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	cleanup, err := open()
	if err == nil && cleanup != nil {
		l.cleanup = append(l.cleanup, cleanup)
	}
	return err
}

// stop ends the loading-time handling (more than once is fine): stop
// signals get their default action again unless someone else catches
// them.
func (l *loadingExit) stop() {
	l.take()
	signal.Stop(l.quit)
}

// handOver ends the loading-time handling and forwards every stop signal
// from now on to to, including one that came during the hand-over, so
// each is handled once. (A second channel registered beside l.quit would
// miss a signal that came just before its registration.)
func (l *loadingExit) handOver(to chan<- os.Signal) {
	if l.take() {
		go func() {
			for sig := range l.quit {
				to <- sig
			}
		}()
	}
}

// take marks the handling as ended; false if it had been already.
func (l *loadingExit) take() bool {
	l.mu.Lock()
	already := l.handed
	l.handed = true
	l.mu.Unlock()
	if !already {
		close(l.done)
	}
	return !already
}
