package host

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The master (DESIGN §5) is Go only: it never starts Python. It opens the
// listeners, starts workers by re-executing its own binary with the
// sockets inherited, and supervises them in one loop over signals, worker
// exits, heartbeats and a tick, one method per event, in the manner of
// gunicorn's arbiter. A running Go program cannot fork, so there is no
// "preload the app in the master" mode: every worker imports the app.

// ExitError ends the master with a given exit status (a worker's boot
// failure: 2 when the app cannot be loaded, as in single-process mode).
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

const (
	masterTick      = 250 * time.Millisecond
	fastStopTimeout = 2 * time.Second
	// spawnBurst workers may start within spawnWindow before the master
	// slows down to one start per second: a crash loop must not spin.
	spawnWindow = 5 * time.Second
)

type workerProc struct {
	pid      int
	proc     *os.Process
	gen      int // reload generation it was started in
	started  time.Time
	lastBeat time.Time
	ready    bool
	limit    int64 // --max-requests plus jitter; 0 = none
	beat     heartbeatMessage
	replace  string // why it is being replaced, "" if it is not
	stopping bool   // a stop signal was sent
}

type workerExit struct {
	pid   int
	state *os.ProcessState
}

type workerBeat struct {
	pid    int
	msg    heartbeatMessage
	closed bool // the worker's heartbeat pipe closed: it has gone
}

type master struct {
	cfg     Config
	log     *Logger
	files   []*os.File // the listening sockets, kept open for every worker
	fds     []uintptr  // their descriptor numbers, read without File.Fd()
	exe     string
	args    []string
	target  int
	gen     int
	workers map[int]*workerProc
	exits   chan workerExit
	beats   chan workerBeat
	changes <-chan string // --reload: a watched file changed (nil without)

	// --reload's warm spare (reload_spare.go).
	spare        *workerProc // not in workers until activated
	spareWaiting bool
	spareModules []string // what the last ready worker imported
	noSpare      bool

	everReady    bool
	reloading    bool
	stopping     bool
	stopDeadline time.Time
	exitErr      error
	spawned      []time.Time // recent start times, for the crash-loop brake
	fleet        *fleetMetrics
}

// masterGCPercent is the master's GOGC. Its live heap is a few hundred KB,
// far under Go's 4 MB minimum heap goal, so with the default the garbage
// of every heartbeat piles up for tens of minutes before the first
// collection (docs/soak.md, the 45-minute run). A collection of so small
// a heap costs microseconds.
const masterGCPercent = 10

func runMaster(cfg Config, logger *Logger) error {
	debug.SetGCPercent(masterGCPercent) // the master only; workers keep GOGC
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find gowsgi's own binary to start workers: %w", err)
	}
	// Caught from the start, before any socket file or pid file exists: a
	// TERM during start-up must not kill the master with the default
	// action and leave them behind. loop handles what came meanwhile.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
		syscall.SIGHUP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1)
	defer signal.Stop(signals)
	listeners, err := listenAll(cfg.Binds, cfg.listenOptions(), logger)
	if err != nil {
		return err
	}
	m := &master{
		cfg: cfg, log: logger, exe: exe, args: os.Args[1:],
		target:  cfg.Workers,
		workers: map[int]*workerProc{},
		exits:   make(chan workerExit, 16),
		beats:   make(chan workerBeat, 64),
		fleet:   newFleetMetrics(),
	}
	writeBanner(cfg, logger, listenURLs(listeners, cfg.TLS.Enabled()), cfg.Workers)
	for _, ln := range listeners {
		f, err := listenerFile(ln)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("pass listener %s to workers: %w", ln.Addr(), err)
		}
		m.files = append(m.files, f)
		fd, err := rawFd(f)
		if err != nil {
			closeAll(listeners)
			return fmt.Errorf("pass listener %s to workers: %w", ln.Addr(), err)
		}
		m.fds = append(m.fds, fd)
		logger.Infof("Listening at: %s (%d)", listenURL(ln, cfg.TLS.Enabled()), os.Getpid())
	}
	// The master keeps only the duplicated descriptors; it never accepts.
	// A unix listener stays open until the master exits: closing it then
	// removes the socket file if gowsgi made it, and leaves one inherited
	// through fd:// or systemd to its owner (fileListener). The workers'
	// copies never remove it.
	for _, ln := range listeners {
		if ln.Addr().Network() == "unix" {
			defer ln.Close()
		} else {
			_ = ln.Close()
		}
	}
	defer func() {
		for _, f := range m.files {
			f.Close()
		}
	}()
	removePid, err := writePidFile(cfg.PidFile)
	if err != nil {
		return err
	}
	defer removePid()
	if cfg.MetricsBind != "" {
		ops, err := startOpsServer(cfg.MetricsBind, &metricsCollector{
			snapshot: m.fleet.snapshot, restarts: m.fleet.restartCounts, workers: m.fleet.workerCount,
		}, m.fleet.ready, logger)
		if err != nil {
			return err
		}
		defer ops.close()
	}
	logger.Infof("Starting gowsgi master (pid: %d) with %d workers of %d Python threads", os.Getpid(), cfg.Workers, cfg.Threads)
	if procs, ok := chosenWorkerProcs(cfg.Workers); ok {
		logger.Infof("Each worker runs Go on %d of %d cpus (GOMAXPROCS)", procs, runtime.GOMAXPROCS(0))
	}
	if cfg.Reload {
		watcher, err := newReloadWatcher(cfg, logger)
		if err != nil {
			return err
		}
		stopWatching := make(chan struct{})
		defer close(stopWatching)
		go watcher.run(stopWatching)
		m.changes = watcher.changes
	}
	return m.loop(signals)
}

func (m *master) loop(signals <-chan os.Signal) error {
	tick := time.NewTicker(masterTick)
	defer tick.Stop()
	m.spawnMissing()
	for !m.stopping || len(m.workers) > 0 {
		select {
		case sig := <-signals:
			m.handleSignal(sig.(syscall.Signal))
		case e := <-m.exits:
			m.handleExit(e)
		case b := <-m.beats:
			m.handleBeat(b)
		case now := <-tick.C:
			m.handleTick(now)
		case path := <-m.changes:
			if !m.stopping {
				m.log.Infof("Detected a change in %s; reloading", path)
				m.reload()
			}
		}
	}
	if m.exitErr == nil {
		m.log.Infof("Shutdown complete")
	}
	return m.exitErr
}

// ---- events -----------------------------------------------------------

func (m *master) handleSignal(sig syscall.Signal) {
	m.log.Infof("Handling signal: %s", signalName(sig))
	if m.stopping && (sig == syscall.SIGTERM || sig == syscall.SIGHUP || sig == syscall.SIGTTIN || sig == syscall.SIGTTOU) {
		// Stopping: new workers (HUP, TTIN) would only be killed at the
		// stop deadline with what they had accepted, and another TERM
		// sent on would cut the workers' drain short. INT and QUIT still
		// turn it into a fast stop; USR1 still reopens the logs.
		m.log.Infof("already stopping; %s ignored", signalNames[sig])
		return
	}
	switch sig {
	case syscall.SIGTERM:
		m.stopAll(syscall.SIGTERM, m.cfg.GracefulTimeout+5*time.Second)
	case syscall.SIGINT, syscall.SIGQUIT:
		m.stopAll(syscall.SIGQUIT, fastStopTimeout)
	case syscall.SIGHUP:
		m.reload()
	case syscall.SIGTTIN:
		m.target++
		m.log.Infof("Number of workers: %d", m.target)
		m.spawnMissing()
	case syscall.SIGTTOU:
		if m.target <= 1 {
			m.log.Warningf("SIGTTOU ignored: already at one worker")
			return
		}
		m.target--
		m.log.Infof("Number of workers: %d", m.target)
		if w := m.oldestServing(); w != nil {
			m.stopWorker(w, syscall.SIGTERM)
		}
	case syscall.SIGUSR1:
		if err := m.log.reopen(); err != nil {
			m.log.Errorf("%v", err)
		}
		for _, w := range m.workers {
			_ = w.proc.Signal(syscall.SIGUSR1)
		}
	}
}

func (m *master) handleExit(e workerExit) {
	if m.spareExited(e.pid, describeExit(e.state)) {
		return
	}
	w, ok := m.workers[e.pid]
	if !ok {
		return
	}
	m.handlePendingBeats()
	delete(m.workers, e.pid)
	status := describeExit(e.state)
	switch {
	case m.stopping || w.stopping:
		m.log.Infof("Worker exited (pid: %d): %s", e.pid, status)
	case !w.ready:
		m.bootFailed(w, e.state, status)
	default:
		m.log.Errorf("Worker (pid: %d) died: %s; starting a new one", e.pid, status)
		m.fleet.restarted("crash")
	}
	if !m.stopping {
		m.spawnMissing()
	}
}

// handlePendingBeats handles the beats already queued, without waiting.
func (m *master) handlePendingBeats() {
	for {
		select {
		case b := <-m.beats:
			m.handleBeat(b)
		default:
			return
		}
	}
}

func (m *master) handleBeat(b workerBeat) {
	if b.closed {
		m.fleet.gone(b.pid)
		return
	}
	if m.spareBeat(b) {
		return
	}
	w, ok := m.workers[b.pid]
	m.fleet.beat(b.pid, &b.msg, ok && !w.stopping && (w.ready || b.msg.Ready))
	if !ok {
		return
	}
	w.lastBeat = time.Now()
	w.beat = b.msg
	if len(b.msg.Modules) > 0 {
		m.spareModules = b.msg.Modules
	}
	if b.msg.Ready && !w.ready {
		w.ready = true
		m.everReady = true
		m.log.Debugf("Worker %d is ready", w.pid)
		m.retireOneReplaced()
		m.spawnSpare()
	}
	if w.limit > 0 && b.msg.Served >= w.limit && w.replace == "" && !w.stopping {
		reason := fmt.Sprintf("served %d requests (--max-requests)", b.msg.Served)
		if m.otherWorkers(w) > 0 {
			// Others serve (or are about to) meanwhile, and new connections
			// wait in the shared socket's backlog: retire it now, as
			// gunicorn does.
			m.log.Infof("Replacing worker %d: %s", w.pid, reason)
			m.fleet.restarted("max-requests")
			m.stopWorker(w, syscall.SIGTERM)
			m.spawnMissing()
		} else {
			m.fleet.restarted("max-requests")
			m.replaceWorker(w, reason) // the only one: successor first
		}
	}
}

func (m *master) handleTick(now time.Time) {
	for _, w := range m.workers {
		if w.stopping {
			continue
		}
		if t := m.cfg.Timeout; t > 0 && w.ready {
			switch {
			case now.Sub(w.lastBeat) > t:
				m.killWorker(w, fmt.Sprintf("sent no heartbeat for %s", now.Sub(w.lastBeat).Round(time.Millisecond)))
				continue
			case w.beat.Busy && time.Duration(w.beat.AgeMS)*time.Millisecond > t:
				m.killWorker(w, fmt.Sprintf("request %s %s has run %s", w.beat.Method, w.beat.Path, (time.Duration(w.beat.AgeMS)*time.Millisecond).Round(time.Millisecond)))
				continue
			}
		}
		if w.replace != "" || !w.ready {
			continue
		}
		if l := m.cfg.WorkerLifetime; l > 0 && now.Sub(w.started) > l {
			m.fleet.restarted("lifetime")
			m.replaceWorker(w, fmt.Sprintf("lived %s (--worker-lifetime)", now.Sub(w.started).Round(time.Second)))
		} else if limit := m.cfg.MaxWorkerMemory; limit > 0 {
			if rss, err := residentMB(w.pid); err == nil && rss > limit {
				m.fleet.restarted("memory")
				m.replaceWorker(w, fmt.Sprintf("uses %d MB (--max-worker-memory %d)", rss, limit))
			}
		}
	}
	if m.stopping && now.After(m.stopDeadline) {
		for _, w := range m.workers {
			m.log.Warningf("Worker %d still running at the stop deadline; killing it", w.pid)
			_ = w.proc.Kill()
		}
		m.stopDeadline = now.Add(time.Hour) // kill once
	}
	if !m.stopping {
		m.spawnMissing()
	}
}

// ---- actions ----------------------------------------------------------

// spawnMissing starts workers until target of them serve or boot without
// being replaced, braking when workers were started too often lately.
func (m *master) spawnMissing() {
	counted := 0
	for _, w := range m.workers {
		if !w.stopping && w.replace == "" {
			counted++
		}
	}
	now := time.Now()
	for ; counted < m.target; counted++ {
		recent := m.spawned[:0]
		for _, t := range m.spawned {
			if now.Sub(t) < spawnWindow {
				recent = append(recent, t)
			}
		}
		m.spawned = recent
		// A reload's new workers are not a crash loop (--reload can start
		// one per save); a reload whose worker fails ends m.reloading.
		if !m.reloading && len(recent) >= 2*m.target+2 && now.Sub(recent[len(recent)-1]) < time.Second {
			return // crash loop: the tick retries within a second
		}
		if err := m.spawn(); err != nil {
			m.log.Errorf("start worker: %v", err)
			return
		}
		m.spawned = append(m.spawned, now)
	}
}

// spawn starts one worker. It uses syscall.ForkExec with raw descriptors,
// not os/exec: exec.Cmd.ExtraFiles calls File.Fd(), which switches the
// shared listening socket to blocking mode until the new worker switches
// it back, and a worker that calls accept(2) in that window blocks in the
// kernel where Shutdown cannot stop it.
func (m *master) spawn() error {
	w, err := m.startWorker()
	if err != nil {
		return err
	}
	m.workers[w.pid] = w
	return nil
}

// startWorker starts a worker process with extraEnv added to its
// environment and watches its heartbeats and exit.
func (m *master) startWorker(extraEnv ...string) (*workerProc, error) {
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("heartbeat pipe: %w", os.NewSyscallError("pipe2", err))
	}
	beatRead := os.NewFile(uintptr(pipe[0]), "heartbeat")
	defer syscall.Close(pipe[1])
	files := append([]uintptr{0, 1, 2}, m.fds...)
	files = append(files, uintptr(pipe[1]))
	argv := append([]string{"gowsgi: worker"}, m.args...) // argv[0] is what ps shows
	limit := m.requestLimit()
	env := append(os.Environ(),
		envWorkerListeners+"="+strconv.Itoa(len(m.fds)),
		envWorkerBeat+"="+m.beatInterval().String(),
		envWorkerMaxRequests+"="+strconv.FormatInt(limit, 10))
	if procs := workerProcsEnv(m.target); procs != "" {
		env = append(env, procs)
	}
	env = append(env, extraEnv...)
	pid, err := syscall.ForkExec(m.exe, argv, &syscall.ProcAttr{
		Env:   env,
		Files: files,
		// A worker outlives a master killed with SIGKILL by a drain at most.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	})
	if err != nil {
		beatRead.Close()
		return nil, err
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		beatRead.Close()
		return nil, err
	}
	now := time.Now()
	w := &workerProc{pid: pid, proc: proc, gen: m.gen, started: now, lastBeat: now, limit: limit}
	beatsRead := make(chan struct{})
	go func() {
		readBeats(w.pid, beatRead, m.beats)
		close(beatsRead)
	}()
	go func() {
		state, _ := proc.Wait()
		// The beats a worker wrote before dying (its "ready" among them)
		// must reach the loop before its exit does, or a worker that
		// crashes right after booting looks like one that never booted.
		// A child of the app holding the pipe open must not delay the
		// exit for long, hence the bound.
		select {
		case <-beatsRead:
		case <-time.After(time.Second):
		}
		m.exits <- workerExit{pid: w.pid, state: state}
	}()
	return w, nil
}

// requestLimit is a new worker's --max-requests plus its jitter (0: none).
func (m *master) requestLimit() int64 {
	n := int64(m.cfg.MaxRequests)
	if n > 0 && m.cfg.MaxRequestsJitter > 0 {
		n += rand.Int64N(int64(m.cfg.MaxRequestsJitter) + 1)
	}
	return n
}

// beatInterval is how often workers report: often enough for --timeout to
// act within a quarter of itself.
func (m *master) beatInterval() time.Duration {
	if m.cfg.Timeout <= 0 {
		return time.Second
	}
	return min(max(m.cfg.Timeout/4, 100*time.Millisecond), time.Second)
}

func readBeats(pid int, r *os.File, beats chan<- workerBeat) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20) // a ready line lists modules (--reload)
	for sc.Scan() {
		var msg heartbeatMessage
		if json.Unmarshal(sc.Bytes(), &msg) == nil {
			beats <- workerBeat{pid: pid, msg: msg}
		}
	}
	beats <- workerBeat{pid: pid, closed: true}
}

// replaceWorker starts a successor first; the worker is told to drain
// only once the successor is ready (retireOneReplaced), so no request is
// refused even with one worker.
func (m *master) replaceWorker(w *workerProc, reason string) {
	m.log.Infof("Replacing worker %d: %s", w.pid, reason)
	w.replace = reason
	m.spawnMissing()
}

// retireOneReplaced drains the oldest worker waiting for a successor.
func (m *master) retireOneReplaced() {
	var oldest *workerProc
	waiting := 0
	for _, w := range m.workers {
		if w.replace != "" && !w.stopping {
			waiting++
			if oldest == nil || w.started.Before(oldest.started) {
				oldest = w
			}
		}
	}
	if oldest != nil {
		if oldest.replace == "reload" {
			// Counted here, as it happens: a reload that fails replaces
			// no worker (bootFailed clears replace).
			m.fleet.restarted("reload")
		}
		m.stopWorker(oldest, syscall.SIGTERM)
		waiting--
	}
	if m.reloading && waiting == 0 {
		m.reloading = false
		m.log.Infof("Reload complete: new workers serve; the old ones are draining")
	}
}

func (m *master) reload() {
	// New workers would each fail on a certificate that does not load
	// (one being rotated, say), and the reload with them; saying so
	// once, before any starts, names the real cause.
	if m.cfg.TLS.Enabled() {
		if _, _, err := buildTLS(m.cfg.TLS); err != nil {
			m.log.Errorf("Reload refused: %v; the old workers serve on", err)
			return
		}
	}
	m.gen++
	m.reloading = true
	for _, w := range m.workers {
		if !w.stopping {
			w.replace = "reload"
		}
	}
	m.log.Infof("Reloading: starting %d new workers with freshly imported code", m.target)
	m.takeSpare()
	m.spawnMissing()
}

// bootFailed handles a worker that exited before it was ready to serve.
func (m *master) bootFailed(w *workerProc, state *os.ProcessState, status string) {
	code := 1
	if state != nil && state.ExitCode() == 2 {
		code = 2 // the app could not be loaded
	}
	switch {
	case !m.everReady:
		// Nothing ever served: a broken app or setup. Restarting would
		// only loop; stop with the worker's error (it printed it).
		m.log.Errorf("Worker failed to boot (pid: %d): %s; stopping", w.pid, status)
		m.exitErr = &ExitError{Code: code, Msg: "the workers could not boot: " + status}
		m.stopAll(syscall.SIGTERM, m.cfg.GracefulTimeout+5*time.Second)
	case m.reloading && w.gen == m.gen:
		m.log.Errorf("Reload failed: a new worker could not boot (%s); keeping the old workers", status)
		m.reloading = false
		for _, o := range m.workers {
			switch {
			case o.gen == m.gen && !o.stopping && !o.ready:
				m.stopWorker(o, syscall.SIGKILL) // still booting: it holds no request
			case o.gen == m.gen:
				// A new worker that became ready imported the code and
				// has already retired an old one: it serves on, or its
				// requests would be lost and the fleet left short.
			case o.replace == "reload":
				o.replace, o.gen = "", m.gen
			}
		}
	default:
		m.log.Errorf("Worker failed to boot (pid: %d): %s; trying again", w.pid, status)
	}
}

func (m *master) stopAll(sig syscall.Signal, within time.Duration) {
	m.stopSpare()
	if !m.stopping {
		m.stopping = true
		m.stopDeadline = time.Now().Add(within)
	}
	for _, w := range m.workers {
		m.stopWorker(w, sig)
	}
}

func (m *master) stopWorker(w *workerProc, sig syscall.Signal) {
	w.stopping = true
	m.fleet.stopping(w.pid)
	_ = w.proc.Signal(sig)
}

func (m *master) killWorker(w *workerProc, why string) {
	m.log.Errorf("WORKER TIMEOUT (pid: %d): %s, past --timeout %s; killing it", w.pid, why, m.cfg.Timeout)
	m.fleet.restarted("timeout")
	m.stopWorker(w, syscall.SIGKILL)
}

// otherWorkers counts the workers other than w that serve or boot.
func (m *master) otherWorkers(w *workerProc) int {
	n := 0
	for _, o := range m.workers {
		if o != w && !o.stopping && o.replace == "" {
			n++
		}
	}
	return n
}

func (m *master) oldestServing() *workerProc {
	var ws []*workerProc
	for _, w := range m.workers {
		if !w.stopping && w.replace == "" {
			ws = append(ws, w)
		}
	}
	if len(ws) == 0 {
		return nil
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].started.Before(ws[j].started) })
	return ws[0]
}

// ---- helpers ----------------------------------------------------------

// rawFd reads a file's descriptor number without File.Fd(), which would
// put the (shared) socket into blocking mode.
func rawFd(f *os.File) (uintptr, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var fd uintptr
	if err := rc.Control(func(d uintptr) { fd = d }); err != nil {
		return 0, err
	}
	return fd, nil
}

// signalNames are the names operators send them by (Go's own names are
// descriptions such as "stopped (tty input)").
var signalNames = map[syscall.Signal]string{
	syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGHUP: "SIGHUP", syscall.SIGTTIN: "SIGTTIN", syscall.SIGTTOU: "SIGTTOU",
	syscall.SIGUSR1: "SIGUSR1",
}

// signalName is sig as operators write it (SIGTERM), for log lines.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		if name, ok := signalNames[s]; ok {
			return name
		}
	}
	return sig.String()
}

func describeExit(s *os.ProcessState) string {
	if s == nil {
		return "unknown status"
	}
	if ws, ok := s.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", s.ExitCode())
}

// residentMB reads a process's resident set size from /proc.
func residentMB(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}
