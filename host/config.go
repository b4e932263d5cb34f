// Package host is the server around the Python app: listeners, the
// net/http server, the pool of Python threads, writing responses, logs and
// signals. It turns HTTP into pybridge calls and never touches Python
// itself.
package host

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Config is everything `gowsgi run` can be told.
type Config struct {
	App     string   // module:callable
	Binds   []string // HOST:PORT addresses
	Threads int      // Python threads
	// BatchScheduling runs the serving process's threads under Linux's
	// SCHED_BATCH policy (sched_batch.go).
	BatchScheduling bool
	Chdir           string        // working directory, first on sys.path
	PythonPath      []string      // more sys.path entries
	Virtualenv      string        // venv directory, "" for none
	RootPath        string        // SCRIPT_NAME mount point
	GracefulTimeout time.Duration // how long in-flight requests get on SIGTERM
	LogLevel        string        // debug, info, warning, error, critical
	AccessLogFile   string        // "" off, "-" stdout, else a file path
	// ForwardedAllowIPs lists the peers whose X-Forwarded-* and Forwarded
	// headers are trusted (gunicorn's syntax: IPs, CIDRs or "*").
	ForwardedAllowIPs string

	// Worker processes (DESIGN §5): with more than one, or with any of
	// the recycling limits, a Go-only master supervises them.
	Workers           int
	Timeout           time.Duration // worker silent or request stuck this long: SIGKILL (0 = off)
	TimeoutSet        bool          // --timeout given explicitly: a master runs even for one worker
	MaxRequests       int           // recycle a worker after this many requests (0 = never)
	MaxRequestsJitter int           // plus rand(0..jitter)
	MaxWorkerMemory   int64         // MB of RSS before a worker is recycled (0 = no limit)
	WorkerLifetime    time.Duration // recycle a worker this old (0 = never)
	RequestTimeout    time.Duration // raise RequestTimeout in a request running Python this long (0 = off)
	PidFile           string

	// The network front (issue: bind forms, TLS, limits, timeouts, proxies).
	Umask   os.FileMode // unix socket mode is 0777 &^ Umask
	Backlog int
	TLS     TLSConfig
	HTTP    string // "1", "2" or "auto": which protocols TLS offers by ALPN
	H2C     bool   // cleartext HTTP/2 with prior knowledge
	// NetHTTPOnly serves plain HTTP/1.1 with net/http too, not with the
	// fast request loop (http1_front.go); for comparison and as a way out.
	NetHTTPOnly           bool
	LimitRequestLine      int   // bytes of method + URI + protocol (0 = unlimited); 414
	LimitRequestFields    int   // header count (0 = unlimited); 431
	LimitRequestFieldSize int   // bytes of one header line (0 = unlimited); 431
	LimitRequestBody      int64 // body bytes (0 = unlimited); 413
	KeepAlive             time.Duration
	HeaderTimeout         time.Duration     // whole request head (slowloris)
	BodyTimeout           time.Duration     // longest wait for the next body bytes; 408
	WriteTimeout          time.Duration     // longest wait for the client to take more response bytes
	MaxConnections        int               // per process (0 = unlimited)
	NotsentLowat          int               // TCP_NOTSENT_LOWAT while sendfile runs (0 = the system's); notsent_lowat.go
	SecureSchemeHeaders   string            // gunicorn's: HEADER=value pairs that mean https
	ForwardedPrefix       bool              // honour X-Forwarded-Prefix as SCRIPT_NAME
	ProxyProtocol         ProxyProtocolMode // off, auto or required (proxyproto.go)
	ProxyAllowFrom        string

	// Operations (issue 6): logs, request ids, metrics and health.
	AccessLogFormat string        // gunicorn's %(atom)s format of text access lines
	LogFormat       string        // "text" or "json", for both logs
	ErrorLogFile    string        // "-" (stderr) or a file path
	RequestIDHeader string        // request id header honoured, else made (X-Request-ID)
	MetricsBind     string        // HOST:PORT for /metrics, /healthz, /readyz ("" = off)
	ReadyTimeout    time.Duration // /readyz: a Python thread must come free within this

	// QueueTimeout is how long a request waits for a free Python thread
	// before it is answered 503; MaxQueued caps how many may wait.
	QueueTimeout time.Duration
	MaxQueued    int

	// Static files (static.go): URL_PREFIX=DIR pairs served by Go alone.
	Static               []string
	StaticMaxAge         time.Duration // Cache-Control max-age (0 = no Cache-Control)
	StaticFollowSymlinks bool          // follow symlinks that lead out of DIR
	// Development (reload.go): restart the Python side when the source
	// changes, and serve a broken import as a traceback page meanwhile.
	Reload           bool
	ReloadInclude    []string // glob patterns of more files watched, added to *.py
	ReloadExclude    []string // glob patterns never watched
	ReloadExtraFiles []string // more files whose change reloads
	Version          string   // gowsgi's version, for the startup banner
	// SettingWarnings are logged once at start-up, by the master or the
	// single process (an unknown GOWSGI_* variable, say).
	SettingWarnings []string
}

// DefaultConfig returns the defaults of `gowsgi run`.
func DefaultConfig() Config {
	return Config{
		Binds:                 []string{"127.0.0.1:8000"},
		Threads:               4,
		BatchScheduling:       true,
		GracefulTimeout:       30 * time.Second,
		LogLevel:              "info",
		ForwardedAllowIPs:     "127.0.0.1,::1",
		Workers:               1,
		Backlog:               2048,
		HTTP:                  "auto",
		LimitRequestLine:      4094,
		LimitRequestFields:    100,
		LimitRequestFieldSize: 8190,
		KeepAlive:             5 * time.Second,
		HeaderTimeout:         10 * time.Second,
		BodyTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		NotsentLowat:          defaultNotsentLowat,
		SecureSchemeHeaders:   "X-FORWARDED-PROTOCOL=ssl,X-FORWARDED-PROTO=https,X-FORWARDED-SSL=on",
		ProxyAllowFrom:        "127.0.0.1,::1",
		Timeout:               30 * time.Second,
		QueueTimeout:          30 * time.Second,
		MaxQueued:             4096,
		AccessLogFormat:       DefaultAccessLogFormat,
		LogFormat:             "text",
		ErrorLogFile:          "-",
		RequestIDHeader:       "X-Request-ID",
		ReadyTimeout:          100 * time.Millisecond,
	}
}

// resolvePaths makes every relative path setting absolute against the
// directory gowsgi was started in, before serve changes to --chdir: the
// pid file, both logs (reopened on SIGUSR1), TLS files, unix sockets (a
// socket file is removed by the path it was made with) and --reload-extra-
// file, as --static and --virtualenv already were. Without it some were
// read from the start directory and some from --chdir, and a master,
// which never changes directory, read the certificate from another place
// than its workers.
func (c *Config) resolvePaths() error {
	abs := func(p *string) error {
		if *p == "" || *p == "-" || filepath.IsAbs(*p) {
			return nil
		}
		a, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("make %s absolute: %w", *p, err)
		}
		*p = a
		return nil
	}
	paths := []*string{&c.Chdir, &c.Virtualenv, &c.PidFile, &c.AccessLogFile, &c.ErrorLogFile,
		&c.TLS.CertFile, &c.TLS.KeyFile, &c.TLS.CAFile}
	for i := range c.ReloadExtraFiles {
		paths = append(paths, &c.ReloadExtraFiles[i])
	}
	for _, p := range paths {
		if err := abs(p); err != nil {
			return err
		}
	}
	binds := slices.Clone(c.Binds) // the caller's slice stays as given
	for i, b := range binds {
		if path, ok := strings.CutPrefix(b, "unix:"); ok {
			if err := abs(&path); err != nil {
				return err
			}
			// A socket path holds at most 107 bytes (sun_path): one that
			// only fits relative stays relative (and, after --chdir, its
			// file may stay behind at exit, as before).
			if len(path) <= 107 {
				binds[i] = "unix:" + path
			}
		}
	}
	c.Binds = binds
	return nil
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if c.App == "" {
		return fmt.Errorf("no app given: expected module:callable")
	}
	if len(c.Binds) == 0 {
		return fmt.Errorf("no --bind address")
	}
	if c.Threads < 1 || c.Threads > 1024 {
		return fmt.Errorf("--threads %d: must be between 1 and 1024", c.Threads)
	}
	if c.GracefulTimeout < 0 {
		return fmt.Errorf("--graceful-timeout %s: must not be negative", c.GracefulTimeout)
	}
	switch {
	case c.Workers < 1 || c.Workers > 1024:
		return fmt.Errorf("--workers %d: must be between 1 and 1024", c.Workers)
	case c.Timeout < 0, c.RequestTimeout < 0, c.WorkerLifetime < 0:
		return fmt.Errorf("--timeout, --request-timeout and --worker-lifetime must not be negative")
	case c.MaxRequests < 0 || c.MaxRequestsJitter < 0 || c.MaxWorkerMemory < 0:
		return fmt.Errorf("--max-requests, --max-requests-jitter and --max-worker-memory must not be negative")
	}
	switch {
	case c.HTTP != "1" && c.HTTP != "2" && c.HTTP != "auto":
		return fmt.Errorf("--http %q: want 1, 2 or auto", c.HTTP)
	case c.LimitRequestLine < 0 || c.LimitRequestFields < 0 || c.LimitRequestFieldSize < 0 || c.LimitRequestBody < 0:
		return fmt.Errorf("--limit-request-* must not be negative")
	case c.KeepAlive < 0 || c.HeaderTimeout < 0 || c.BodyTimeout < 0 || c.WriteTimeout < 0:
		return fmt.Errorf("--keep-alive %s, --header-timeout %s, --body-timeout %s, --write-timeout %s: none may be negative", c.KeepAlive, c.HeaderTimeout, c.BodyTimeout, c.WriteTimeout)
	case c.MaxConnections < 0 || c.Backlog < 0 || c.NotsentLowat < 0:
		return fmt.Errorf("--max-connections, --backlog and --tcp-notsent-lowat must not be negative")
	}
	if _, err := c.staticSpecs(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	return c.validateOperations()
}

// NeedsMaster says whether a supervising master process runs: for several
// workers, or for a feature only a master provides. One worker and none of
// those keep the simple single-process mode.
func (c *Config) NeedsMaster() bool {
	return c.Workers > 1 || c.MaxRequests > 0 || c.MaxWorkerMemory > 0 ||
		c.WorkerLifetime > 0 || c.TimeoutSet || c.Reload
}

// ConfigError is a setting that cannot work (a missing virtualenv, a bad
// --chdir): the user must fix the command line; nothing was started.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }
