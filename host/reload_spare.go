package host

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// A --reload warm spare: most of a restart is the new worker importing
// the app's libraries (Flask: ~200 ms; the app's own modules: a few ms).
// So once a reload is complete the master starts one spare worker. It
// imports the stdlib modules and third-party packages the app's last
// import used (the list comes in the ready worker's first heartbeat),
// never the app's own code, then says "waiting" and blocks before the
// app's import. The next save activates it (SIGUSR2) instead of starting
// a cold worker: it imports only the app's code, fresh, and serves.
//
// If the preload imported any module under the app's directories (a
// library that imports the app's settings, say), that code would go
// stale: the spare exits and the master starts no more of them. A spare
// that exits for any other reason also turns them off.

const (
	envWorkerSpare   = "GOWSGI_WORKER_SPARE"   // "1": wait before the app's import
	envWorkerPreload = "GOWSGI_WORKER_PRELOAD" // JSON list of modules to import first
)

// spareWorker is this process's side of being a warm spare.
type spareWorker struct {
	preload  []string
	activate chan os.Signal
}

// spareFromEnvironment reports whether this worker starts as a spare; it
// catches SIGUSR2 at once, before the master can send it.
func spareFromEnvironment() *spareWorker {
	if os.Getenv(envWorkerSpare) != "1" {
		return nil
	}
	s := &spareWorker{activate: make(chan os.Signal, 1)}
	signal.Notify(s.activate, syscall.SIGUSR2)
	_ = json.Unmarshal([]byte(os.Getenv(envWorkerPreload)), &s.preload)
	os.Unsetenv(envWorkerSpare)
	os.Unsetenv(envWorkerPreload)
	return s
}

// beforeLoad tells the master the spare waits, and waits to be activated.
func (s *spareWorker) beforeLoad(w *workerLink, logger *Logger) func([]string) error {
	return func(tainted []string) error {
		if len(tainted) > 0 {
			return fmt.Errorf("--reload spare: preloading libraries imported the app's own modules (%s); starting workers cold from now on", strings.Join(tainted, ", "))
		}
		if err := json.NewEncoder(w.beat).Encode(heartbeatMessage{Waiting: true}); err != nil {
			return fmt.Errorf("--reload spare: the master is gone: %w", err)
		}
		<-s.activate
		signal.Stop(s.activate)
		logger.Debugf("Spare worker %d activated: importing the app", os.Getpid())
		return nil
	}
}

// ---- master side -----------------------------------------------------

// spawnSpare starts a spare when --reload runs, none is there, and a
// worker has said what to preload.
func (m *master) spawnSpare() {
	if !m.cfg.Reload || m.noSpare || m.spare != nil || m.stopping || m.reloading || len(m.spareModules) == 0 {
		return
	}
	list, err := json.Marshal(m.spareModules)
	if err != nil {
		return
	}
	w, err := m.startWorker(envWorkerSpare+"=1", envWorkerPreload+"="+string(list))
	if err != nil {
		m.log.Warningf("--reload: start a spare worker: %v", err)
		return
	}
	m.spare, m.spareWaiting = w, false
}

// takeSpare turns a waiting spare into a worker of this generation; false
// when there is none ready.
func (m *master) takeSpare() bool {
	w := m.spare
	if w == nil || !m.spareWaiting {
		return false
	}
	m.spare, m.spareWaiting = nil, false
	now := time.Now()
	w.gen, w.started, w.lastBeat = m.gen, now, now
	m.workers[w.pid] = w
	if err := w.proc.Signal(syscall.SIGUSR2); err != nil {
		return true // it is gone: its exit is handled as a failed boot
	}
	m.log.Debugf("Activated spare worker %d", w.pid)
	return true
}

// spareExited handles the exit of the spare, if pid is it.
func (m *master) spareExited(pid int, status string) bool {
	if m.spare == nil || m.spare.pid != pid {
		return false
	}
	m.spare = nil
	if !m.stopping {
		m.noSpare = true
		m.log.Warningf("--reload: the spare worker %d exited (%s); reloads start cold workers from now on", pid, status)
	}
	return true
}

// spareBeat handles a heartbeat of the spare, if pid is it.
func (m *master) spareBeat(b workerBeat) bool {
	if m.spare == nil || m.spare.pid != b.pid {
		return false
	}
	if b.msg.Waiting && !m.spareWaiting {
		m.spareWaiting = true
		m.log.Debugf("Spare worker %d is waiting, %d modules preloaded", b.pid, len(m.spareModules))
	}
	return true
}

// stopSpare kills a spare (it has served nothing).
func (m *master) stopSpare() {
	if m.spare != nil {
		_ = m.spare.proc.Signal(syscall.SIGKILL)
	}
}
