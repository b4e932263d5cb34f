package host

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// As PID 1 (the first process of a container or PID namespace) gowsgi has
// two jobs the kernel gives no other process: it must reap the orphans
// that are re-parented to it (an app's subprocess that left a background
// child behind), or they stay zombies forever; and it gets no default
// action for SIGTERM/SIGINT, so it must handle them itself.
//
// A blind wait4(-1) in the serving process would race with the waits of
// the master (its workers) and of Python's subprocess module (its own
// children) and steal their exit statuses. So PID 1 is a tiny init, as
// tini is: it starts gowsgi again as its only child, which serves as
// usual, forwards every signal to it, reaps everything, and exits with
// the child's status once the child has gone.

// forwardedSignals are passed on to the server; SIGCHLD triggers reaping.
var forwardedSignals = []os.Signal{
	syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU,
	syscall.SIGWINCH,
}

// runInit runs gowsgi's arguments as the child of this PID-1 process.
func runInit(logger *Logger) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("PID 1: find gowsgi's own binary: %w", err)
	}
	signals := make(chan os.Signal, 64)
	// Before the child starts, so that nothing sent meanwhile is lost.
	signal.Notify(signals, append([]os.Signal{syscall.SIGCHLD}, forwardedSignals...)...)
	defer signal.Stop(signals)
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{0, 1, 2}}
	if term.IsTerminal(0) {
		// Its own foreground process group: a Ctrl-C on the terminal then
		// reaches the server once, not also through this forwarder.
		attr.Sys = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
	}
	child, err := syscall.ForkExec(exe, os.Args, attr)
	if err != nil && attr.Sys != nil {
		// The terminal is not ours to hand over (no controlling terminal
		// in this session): start the child in our process group.
		attr.Sys = nil
		child, err = syscall.ForkExec(exe, os.Args, attr)
	}
	if err != nil {
		return fmt.Errorf("PID 1: start the server: %w", err)
	}
	logger.Infof("Running as PID 1: the server is pid %d; forwarding signals and reaping orphaned processes", child)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			_ = syscall.Kill(child, sig.(syscall.Signal))
			continue
		}
		if status, done := reapAll(child, logger); done {
			return childExit(status)
		}
	}
	return nil
}

// reapAll collects every exited child; done reports the server's end.
func reapAll(server int, logger *Logger) (status syscall.WaitStatus, done bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return status, done
		}
		if pid == server {
			status, done = ws, true
		} else {
			logger.Debugf("Reaped orphaned process %d", pid)
		}
	}
}

// childExit is this process's exit for the server's status: the same
// code, or 128+signal as a shell reports it. The server printed its own
// error already.
func childExit(ws syscall.WaitStatus) error {
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code}
}
