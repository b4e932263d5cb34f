package host

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// finalizeTimeout bounds Py_FinalizeEx at exit: an app's non-daemon thread
// can make it wait forever.
const finalizeTimeout = 5 * time.Second

// Run serves cfg.App until SIGTERM or SIGINT, then stops accepting, lets
// in-flight requests finish within cfg.GracefulTimeout and returns nil.
// It runs one of three roles: a worker (started by a master, see
// worker.go), a master (master.go, when cfg.NeedsMaster), or, by default,
// a single process that binds and serves itself.
// A *pybridge.LoadError means the app could not be imported.
func Run(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return &ConfigError{err}
	}
	if err := cfg.resolvePaths(); err != nil {
		return &ConfigError{err}
	}
	level, _ := parseLevel(cfg.LogLevel)
	logger, err := openErrorLog(cfg.ErrorLogFile, level, cfg.LogFormat == "json")
	if err != nil {
		return &ConfigError{err}
	}
	if os.Getpid() == 1 {
		return runInit(logger) // pid1.go: the server runs as its child
	}
	if w, ok, err := workerFromEnvironment(); err != nil {
		return err
	} else if ok {
		return serve(cfg, logger, w.listeners, w, exitOnStopWhileLoading(logger))
	}
	for _, w := range cfg.SettingWarnings {
		logger.Warningf("%s", w)
	}
	if cfg.NeedsMaster() {
		return runMaster(cfg, logger)
	}
	// Stop signals are caught before the socket files and the pid file
	// exist, so that a stop during start-up removes them.
	loading := exitOnStopWhileLoading(logger)
	defer loading.stop()
	// Bind before importing the app: a busy port fails fast and cheaply.
	var listeners []net.Listener
	err = loading.create(func() (func(), error) {
		var err error
		listeners, err = listenAll(cfg.Binds, cfg.listenOptions(), logger)
		return func() { closeAll(listeners) }, err // unlinks the socket files it made
	})
	if err != nil {
		return err
	}
	var removePid func()
	err = loading.create(func() (func(), error) {
		var err error
		removePid, err = writePidFile(cfg.PidFile)
		return removePid, err
	})
	if err != nil {
		closeAll(listeners)
		return err
	}
	defer removePid()
	return serve(cfg, logger, listeners, nil, loading)
}

// serve imports the app and serves it on listeners until a stop signal.
// w is the link to the master when this process is a worker, else nil.
// loading handles stop signals until serve catches them itself.
func serve(cfg Config, logger *Logger, listeners []net.Listener, w *workerLink, loading *loadingExit) error {
	defer closeAll(listeners)
	defer loading.stop() // first: a stop signal now must not close them twice and exit 0
	// The venv is relative to where gowsgi was started; --pythonpath
	// entries to --chdir, as gunicorn does.
	program, err := pythonProgram(cfg.Virtualenv)
	if err != nil {
		return &ConfigError{err}
	}
	// Before --chdir: DIR is relative to where gowsgi was started.
	static, err := openStaticMounts(&cfg)
	if err != nil {
		return &ConfigError{err}
	}
	defer static.close()
	var appRoots []string
	var spare *spareWorker
	if cfg.Reload && w != nil {
		if appRoots, err = cfg.reloadRoots(); err != nil { // before the chdir
			return &ConfigError{err}
		}
		spare = spareFromEnvironment()
	}
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return &ConfigError{fmt.Errorf("--chdir: %w", err)}
		}
	}
	envConfig, err := cfg.environConfig()
	if err != nil {
		return &ConfigError{err}
	}
	front, err := newFront(cfg, logger)
	if err != nil {
		return &ConfigError{err}
	}
	listeners = front.wrap(listeners)
	ids, err := newRequestIDs(cfg.RequestIDHeader)
	if err != nil {
		return &ConfigError{err}
	}
	// Metrics are counted when a port serves them: here, or (worker) the
	// master's, which gets them in the heartbeat.
	var metrics *requestMetrics
	if cfg.MetricsBind != "" {
		metrics = &requestMetrics{}
		pybridge.SetTiming(true)
	}
	var appReady atomic.Bool
	var slots *pythonSlots // set once the app is imported
	if cfg.MetricsBind != "" && w == nil {
		// Up before the import, so that /healthz answers while a big app
		// loads; /readyz says 503 until it serves.
		ops, err := startOpsServer(cfg.MetricsBind, &metricsCollector{snapshot: metrics.snapshot}, func() (bool, string) {
			if !appReady.Load() {
				return false, "the app is not imported yet, or the server is stopping"
			}
			if !slots.slotFreeWithin(cfg.ReadyTimeout) {
				return false, fmt.Sprintf("no Python thread came free within %s", cfg.ReadyTimeout)
			}
			return true, ""
		}, logger)
		if err != nil {
			return err
		}
		defer ops.close()
	}

	// Before Python starts: the threads it and the app make inherit it.
	if cfg.BatchScheduling {
		switch batch, err := useBatchScheduling(); {
		case err != nil:
			// Not allowed here (a seccomp profile, gVisor): nothing to
			// fix, so not a warning.
			logger.Infof("SCHED_BATCH is not available (%v); the threads keep the default policy (--batch-scheduling=false skips the attempt)", err)
		case batch:
			logger.Debugf("threads run under SCHED_BATCH (--batch-scheduling)")
		default:
			logger.Debugf("--batch-scheduling: the process runs under a policy of the operator's choice; kept")
		}
	}
	pyConfig := pybridge.Config{
		Program:      program,
		PythonPath:   cfg.PythonPath,
		App:          cfg.App,
		KnownKeys:    environ.KnownKeys(),
		Multithread:  cfg.Threads > 1,
		Multiprocess: w != nil,
		ErrorLog:     func(msg string) { logger.Errorf("%s", msg) },
		AppRoots:     appRoots,
		ListModules:  appRoots != nil,
	}
	if spare != nil {
		pyConfig.Preload, pyConfig.BeforeLoad = spare.preload, spare.beforeLoad(w, logger)
	}
	interp, info, err := pybridge.Start(pyConfig)
	var loadErr *pybridge.LoadError
	if cfg.Reload && w != nil && errors.As(err, &loadErr) {
		return serveLoadError(cfg, logger, front, listeners, w, loadErr.Message, loading.handOver)
	}
	if err != nil {
		return err
	}
	logger.Debugf("Python %s; sys.executable %s; sys.prefix %s; sys.base_prefix %s", strings.ReplaceAll(info.Version, "\n", " "), info.Executable, info.Prefix, info.BasePrefix)
	logger.Debugf("sys.path %v", info.Path)

	access, err := openAccessLog(cfg.AccessLogFile, cfg.AccessLogFormat, cfg.LogFormat == "json", cfg.RequestIDHeader)
	if err != nil {
		return &ConfigError{err}
	}
	defer access.close()

	h := &handler{
		// Slots record their requests when something watches them.
		python:       newPythonSlots(cfg.Threads, w != nil || cfg.RequestTimeout > 0),
		envConfig:    envConfig,
		log:          logger,
		access:       access,
		limits:       cfg.requestLimits(),
		timeouts:     ioTimeouts{body: cfg.BodyTimeout, write: cfg.WriteTimeout},
		queueTimeout: cfg.QueueTimeout,
		maxQueued:    int64(cfg.MaxQueued),
		ids:          ids,
		metrics:      metrics,
	}
	slots = h.python
	if w != nil {
		h.maxRequests, h.limitHit = w.maxRequests, w.limitHit
		w.modules = info.Modules
	}
	srv := front.server(newStaticHandler(cfg, static, h, access, logger), log.New(logWriter{logger}, "", 0))
	conns := newConnTracker()
	srv.ConnState = conns.hook
	// Signals are caught before the first request is served: a SIGTERM
	// that follows a served request must stop the server gracefully, not
	// kill it with the default action (a test caught that race).
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGHUP)
	defer signal.Stop(signals)
	loading.handOver(signals) // TERM, INT and QUIT, each once
	serveErr := make(chan error, len(listeners))
	var fast *http1Front // plain HTTP/1.1's own request loop, when on
	if front.tls == nil && !cfg.NetHTTPOnly && len(listeners) > 0 {
		fast = newHTTP1Front(srv, conns, logger, listeners[0].Addr())
		fast.notsentLowat = cfg.NotsentLowat
		if w != nil && cfg.Workers > 1 {
			fast.paceAbove = cfg.Threads
		}
		go func() { _ = srv.Serve(fast.handoff) }() // what the fast path leaves
	}
	for _, ln := range listeners {
		go func(ln net.Listener) {
			if fast != nil {
				serveErr <- fast.serve(ln)
				return
			}
			serveErr <- front.serve(srv, ln)
		}(ln)
	}
	if w != nil {
		logger.Infof("Booting worker with pid: %d (GOMAXPROCS %d)", os.Getpid(), runtime.GOMAXPROCS(0))
	} else {
		// Only now: a failed import must leave its one error line alone.
		writeBanner(cfg, logger, listenURLs(listeners, front.tls != nil), 0)
		for _, ln := range listeners {
			logger.Infof("Listening at: %s (%d)", front.displayAddr(ln), os.Getpid())
		}
		logger.Infof("Serving %s with %d Python threads (Python %s)", cfg.App, cfg.Threads, strings.Fields(info.Version)[0])
	}
	appReady.Store(true)

	stopWatch := make(chan struct{})
	beatDone := make(chan struct{})
	defer func() {
		close(stopWatch)
		if w != nil {
			// Let the heartbeat send its last beat (the final counts)
			// before the process exits.
			select {
			case <-beatDone:
			case <-time.After(time.Second):
			}
		}
	}()
	if cfg.RequestTimeout > 0 {
		go watchRequestTimeout(h.python, cfg.RequestTimeout, logger, stopWatch)
	}
	masterGone := make(chan struct{})
	if w != nil {
		go func() {
			defer close(beatDone)
			w.heartbeat(h, cfg.ReadyTimeout, stopWatch, masterGone)
		}()
	}

wait:
	for {
		select {
		case sig := <-signals:
			switch sig {
			case syscall.SIGUSR1:
				logger.Infof("Handling signal: %s; reopening log files", signalName(sig))
				if err := access.reopen(); err != nil {
					logger.Errorf("%v", err)
				}
				if err := logger.reopen(); err != nil {
					logger.Errorf("%v", err)
				}
				continue
			case syscall.SIGHUP:
				// Alone (no master), HUP reloads the TLS certificate; a
				// master reloads by replacing its workers instead. A
				// gunicorn user's HUP after a deploy reloads no code here:
				// say so rather than let it look done.
				if front.certs == nil {
					if w != nil {
						continue // a worker: its master reloads
					}
					logger.Warningf("Handling signal: SIGHUP; a single process cannot reload the app's code (run --workers 2 or more, or --timeout, for a master that reloads on HUP; --reload in development)")
					continue
				}
				logger.Infof("Handling signal: %s; reloading the TLS certificate (the app's code is not reloaded without a master)", signalName(sig))
				if err := front.reloadCertificate(); err != nil {
					logger.Errorf("%v; keeping the old certificate", err)
				}
				continue
			case syscall.SIGQUIT:
				// Fast stop: the master wants this worker gone now.
				logger.Infof("Handling signal: %s; stopping now", signalName(sig))
				_ = srv.Close()
				fast.close()
				return nil
			}
			logger.Infof("Handling signal: %s; finishing in-flight requests (up to %s)", signalName(sig), cfg.GracefulTimeout)
			break wait
		case <-masterGone:
			logger.Warningf("the master process is gone; stopping")
			break wait
		case err := <-serveErr:
			logger.Errorf("serve: %v", err)
			break wait
		}
	}

	appReady.Store(false) // /readyz fails while draining; /healthz still answers
	ctx, cancel := context.WithTimeout(context.Background(), cfg.GracefulTimeout)
	defer cancel()
	go func() {
		// SIGINT or SIGQUIT now cuts the wait short (a second Ctrl-C). A
		// repeated SIGTERM does not: systemd's KillMode=control-group and
		// a process-group kill send it to each worker besides the master's
		// own, and Pdeathsig sends it again each time a dying master's
		// thread hands the worker on; none of them means "hurry".
		for {
			select {
			case sig := <-signals:
				if sig != syscall.SIGINT && sig != syscall.SIGQUIT {
					continue
				}
				cancel()
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := drain(ctx, srv, fast, listeners, conns); err != nil {
		// Requests still running in Python cannot be interrupted safely;
		// close their connections and exit without finalising Python.
		logger.Warningf("graceful shutdown: %v; closing the remaining connections", err)
		_ = srv.Close()
		fast.close()
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- interp.Stop() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Warningf("%v", err)
		}
	case <-time.After(finalizeTimeout):
		logger.Warningf("Python did not finalise within %s (a non-daemon thread?); exiting anyway", finalizeTimeout)
	}
	logger.Infof("Shutdown complete")
	return nil
}

// watchRequestTimeout interrupts requests that run Python past limit.
func watchRequestTimeout(p *pythonSlots, limit time.Duration, logger *Logger, stop <-chan struct{}) {
	tick := time.NewTicker(min(limit/4, 250*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			for _, b := range p.interruptOverdue(now, limit) {
				logger.Warningf("Request %s %s has run %s, past --request-timeout %s: raising RequestTimeout in it", b.method, b.path, b.age.Round(time.Millisecond), limit)
			}
		}
	}
}

// writePidFile writes this process's pid to path ("" = none) and returns
// the function that removes it again.
func writePidFile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
		return nil, &ConfigError{fmt.Errorf("--pid: %w", err)}
	}
	return func() { _ = os.Remove(path) }, nil
}

// pythonProgram picks the python executable Python locates itself from:
// the venv's own for a virtualenv (never its home: Python would abort),
// else "" for the one gowsgi was built against.
func pythonProgram(venv string) (string, error) {
	if venv == "" {
		return "", nil
	}
	abs, err := filepath.Abs(venv)
	if err != nil {
		return "", fmt.Errorf("--virtualenv %s: %w", venv, err)
	}
	program := filepath.Join(abs, "bin", "python")
	if _, err := os.Stat(program); err != nil {
		return "", fmt.Errorf("--virtualenv %s: not a virtualenv (%w)", venv, err)
	}
	if err := checkVenvVersion(abs); err != nil {
		return "", err
	}
	return program, nil
}

// checkVenvVersion fails fast when the venv was made by another Python
// minor version than the libpython gowsgi is linked with: its compiled
// packages would not load.
func checkVenvVersion(venv string) error {
	data, err := os.ReadFile(filepath.Join(venv, "pyvenv.cfg"))
	if err != nil {
		return fmt.Errorf("--virtualenv %s: no pyvenv.cfg: %w", venv, err)
	}
	built := minorVersion(pybridge.BuiltVersion())
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || (key != "version" && key != "version_info") {
			continue
		}
		if venvVersion := minorVersion(strings.TrimSpace(value)); venvVersion != built {
			return pythonVersionError(venv, venvVersion, built)
		}
		return nil
	}
	return nil
}

// minorVersion turns "3.11.7 (main, ...)" into "3.11".
func minorVersion(v string) string {
	parts := strings.SplitN(strings.Fields(v + " ")[0], ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

func closeAll(listeners []net.Listener) {
	for _, ln := range listeners {
		_ = ln.Close()
	}
}

// logWriter sends net/http's own messages to the error log.
type logWriter struct{ l *Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Warningf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
