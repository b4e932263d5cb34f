package host

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// loadingExit makes TERM, INT and QUIT end the process at once, with a
// log line and status 0, from start-up until the server catches them
// itself (stop). While the app loads there is nothing to drain. Go's
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
	handed  bool     // stop was called: the server's own handler has the signals
}

func exitOnStopWhileLoading(logger *Logger) *loadingExit {
	l := &loadingExit{quit: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(l.quit, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
	go func() {
		select {
		case sig := <-l.quit:
			logger.Infof("Handling signal: %s while the app loads; exiting", signalName(sig))
			l.mu.Lock() // held to the exit: create adds nothing more
			if l.handed {
				// The signal reached the server's handler too (both were
				// notified for a moment): it stops gracefully.
				l.mu.Unlock()
				return
			}
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

// stop hands the stop signals back (more than once is fine); the caller
// must have its own signal.Notify in place already, or a signal in
// between gets the default action.
func (l *loadingExit) stop() {
	l.mu.Lock()
	already := l.handed
	l.handed = true
	l.mu.Unlock()
	if !already {
		signal.Stop(l.quit)
		close(l.done)
	}
}
