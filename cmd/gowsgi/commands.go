package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gowsgi/gowsgi/host"
	"github.com/gowsgi/gowsgi/pybridge"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gowsgi",
		Short:         "A WSGI server for Python web apps, written in Go",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().String("config", "", "configuration file (TOML); default [tool.gowsgi] in ./pyproject.toml")
	root.AddCommand(newRunCommand(), newVersionCommand(), newCheckCommand(), newConfigCommand(), newDocsCommand())
	return root
}

func newRunCommand() *cobra.Command {
	return newAppCommand("run [flags] APP", "Serve a WSGI app (module:callable, module, or module:factory(args))",
		`Serve a WSGI app over HTTP.`,
		func(_ *cobra.Command, cfg host.Config, _ *settings) error { return host.Run(cfg) })
}

// newAppCommand makes a command that takes the flags of run and an APP:
// run itself, check and config. action gets the resolved Config and where
// each of its settings came from.
func newAppCommand(use, short, long string, action func(*cobra.Command, host.Config, *settings) error) *cobra.Command {
	cfg := host.DefaultConfig()
	// A flag whose text is not the Config type: octal.
	umaskText := "0"
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: long + `

APP is module:callable, a bare module (its "application", else its "app"),
or module:factory(args) where args are Python literals.

Every flag can also be set in the environment as GOWSGI_FLAG (the flag's name in capitals, dashes as underscores), e.g.
GOWSGI_THREADS=8 or GOWSGI_BIND=127.0.0.1:8000,[::1]:8000, and in a
configuration file: --config FILE (TOML), else [tool.gowsgi] in
./pyproject.toml, with the flag names as keys (and "app" for APP).
Flags win over the environment, which wins over the file.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("%s takes one APP argument (module:callable), got %d", cmd.Name(), len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			set, err := applySettings(cmd.Flags(), arg)
			if err != nil {
				return usageError{err}
			}
			if set.app == "" && cmd.Name() != "config" {
				return usageError{fmt.Errorf("%s takes one APP argument (module:callable), or \"app\" in the configuration file", cmd.Name())}
			}
			cfg.App = set.app
			cfg.Version = version
			cfg.SettingWarnings = set.warnings
			cfg.TimeoutSet = cmd.Flags().Changed("timeout") || os.Getenv("GOWSGI_TIMEOUT") != ""
			mask, err := strconv.ParseUint(strings.TrimPrefix(umaskText, "0o"), 8, 32)
			if err != nil || mask > 0o777 {
				return usageError{fmt.Errorf("--umask %q: want an octal mask such as 022", umaskText)}
			}
			cfg.Umask = os.FileMode(mask)
			if err := cfg.Validate(); err != nil && cfg.App != "" {
				return usageError{err}
			}
			return action(cmd, cfg, set)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&cfg.Binds, "bind", "b", cfg.Binds, "address to listen on: HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N (repeatable)")
	f.IntVar(&cfg.Threads, "threads", cfg.Threads, "Python threads serving requests")
	f.BoolVar(&cfg.BatchScheduling, "batch-scheduling", cfg.BatchScheduling, "run the worker's threads under Linux's SCHED_BATCH policy, so that Go's own threads waking do not preempt the one running Python (false: the default policy)")
	f.StringVar(&cfg.Chdir, "chdir", "", "change to this directory before loading the app (it goes first on sys.path)")
	f.StringArrayVar(&cfg.PythonPath, "pythonpath", nil, "directory to add to sys.path (repeatable)")
	f.StringVar(&cfg.Virtualenv, "virtualenv", os.Getenv("VIRTUAL_ENV"), "virtualenv whose site-packages the app uses (default $VIRTUAL_ENV)")
	f.StringVar(&cfg.RootPath, "root-path", "", "mount point of the app, passed as SCRIPT_NAME")
	f.Var(secondsOrDuration{&cfg.GracefulTimeout}, "graceful-timeout", "time in-flight requests get to finish after SIGTERM/SIGINT")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "error log level: debug, info, warning, error, critical")
	f.StringVar(&cfg.ForwardedAllowIPs, "forwarded-allow-ips", cfg.ForwardedAllowIPs, "peers trusted to set X-Forwarded-*/Forwarded: IPs, CIDRs or *, comma-separated (unix-socket peers always)")
	f.IntVarP(&cfg.Workers, "workers", "w", cfg.Workers, "worker processes; more than 1 starts a supervising master")
	f.Var(secondsOrDuration{&cfg.Timeout}, "timeout", "time before a silent worker, or one whose request runs this long, is killed and replaced (0 = off; given explicitly, a master runs)")
	f.IntVar(&cfg.MaxRequests, "max-requests", 0, "replace a worker after this many requests (0 = never)")
	f.IntVar(&cfg.MaxRequestsJitter, "max-requests-jitter", 0, "add rand(0..N) to --max-requests per worker")
	f.Int64Var(&cfg.MaxWorkerMemory, "max-worker-memory", 0, "replace a worker whose RSS exceeds this many MB (0 = no limit)")
	f.Var(secondsOrDuration{&cfg.WorkerLifetime}, "worker-lifetime", "replace a worker this old, e.g. 1h (0 = never)")
	f.Var(secondsOrDuration{&cfg.RequestTimeout}, "request-timeout", "raise RequestTimeout in a request running Python this long and answer 504 (0 = off)")
	f.StringVar(&cfg.PidFile, "pid", "", "write the (master) process id to this file")
	// The network front.
	f.StringVar(&umaskText, "umask", umaskText, "octal umask for unix sockets: their mode is 0777 &^ umask")
	f.IntVar(&cfg.Backlog, "backlog", cfg.Backlog, "listen(2) backlog: connections waiting to be accepted")
	f.StringVar(&cfg.TLS.CertFile, "certfile", "", "TLS certificate (PEM); with --keyfile, serves HTTPS (and HTTP/2 by ALPN)")
	f.StringVar(&cfg.TLS.KeyFile, "keyfile", "", "TLS private key (PEM)")
	f.StringVar(&cfg.TLS.CAFile, "ca-certs", "", "CA certificates (PEM) that client certificates must chain to")
	f.StringVar(&cfg.TLS.CertReqs, "cert-reqs", "none", "client certificates: none, optional or required (or 0, 1, 2)")
	f.StringVar(&cfg.TLS.MinVersion, "ssl-min-version", "1.2", "lowest TLS version accepted: 1.2 or 1.3")
	f.StringVar(&cfg.HTTP, "http", cfg.HTTP, "protocols over TLS: 1 (HTTP/1.1 only), 2 or auto (both, by ALPN)")
	f.BoolVar(&cfg.H2C, "h2c", false, "also accept cleartext HTTP/2 with prior knowledge (for proxies that speak it)")
	f.BoolVar(&cfg.NetHTTPOnly, "net-http-only", false, "serve plain HTTP/1.1 with Go's net/http as well, instead of gowsgi's faster request loop")
	f.IntVar(&cfg.LimitRequestLine, "limit-request-line", cfg.LimitRequestLine, "longest request line in bytes, else 414 (0 = unlimited)")
	f.IntVar(&cfg.LimitRequestFields, "limit-request-fields", cfg.LimitRequestFields, "most request headers, else 431 (0 = unlimited)")
	f.IntVar(&cfg.LimitRequestFieldSize, "limit-request-field-size", cfg.LimitRequestFieldSize, "longest request header line in bytes, else 431 (0 = unlimited)")
	f.Int64Var(&cfg.LimitRequestBody, "limit-request-body", 0, "largest request body in bytes, else 413 before the app runs (0 = unlimited)")
	f.Var(secondsOrDuration{&cfg.KeepAlive}, "keep-alive", "time an idle keep-alive connection stays open")
	f.Var(secondsOrDuration{&cfg.HeaderTimeout}, "header-timeout", "time a client has to send the whole request head (slowloris)")
	f.Var(secondsOrDuration{&cfg.BodyTimeout}, "body-timeout", "longest wait for more request body bytes, else 408 (0 = none)")
	f.Var(secondsOrDuration{&cfg.WriteTimeout}, "write-timeout", "longest wait for a client to take more response bytes (0 = none)")
	f.IntVar(&cfg.MaxConnections, "max-connections", 0, "open connections per process; more wait in the backlog (0 = unlimited)")
	f.IntVar(&cfg.NotsentLowat, "tcp-notsent-lowat", cfg.NotsentLowat, "bytes of a file the kernel may hold unsent while sending it with sendfile (TCP_NOTSENT_LOWAT; 0 = the system's setting)")
	f.StringVar(&cfg.SecureSchemeHeaders, "secure-scheme-headers", cfg.SecureSchemeHeaders, "HEADER=value pairs that, from a trusted proxy, mean https")
	f.BoolVar(&cfg.ForwardedPrefix, "forwarded-prefix", false, "take SCRIPT_NAME from a trusted proxy's X-Forwarded-Prefix")
	f.Var(proxyProtocolFlag{&cfg.ProxyProtocol}, "proxy-protocol", "PROXY protocol v1/v2 header from --proxy-allow-from peers: auto (read when present; given bare) or required (a connection without one is closed)")
	f.Lookup("proxy-protocol").NoOptDefVal = host.ProxyProtocolAuto.String()
	f.StringVar(&cfg.ProxyAllowFrom, "proxy-allow-from", cfg.ProxyAllowFrom, "peers allowed to send a PROXY header: IPs, CIDRs or *")
	f.StringVar(&cfg.AccessLogFile, "access-logfile", "", "access log file, - for stdout (default off)")
	// Static files, served by Go without calling the app.
	f.StringArrayVar(&cfg.Static, "static", nil, "serve files under URL_PREFIX from DIR, as URL_PREFIX=DIR, without calling the app (repeatable; DIR relative to the start directory, not --chdir)")
	f.Var(secondsOrDuration{&cfg.StaticMaxAge}, "static-max-age", "Cache-Control max-age of static files: seconds (3600) or a duration (1h); 0 = no Cache-Control")
	f.BoolVar(&cfg.StaticFollowSymlinks, "static-follow-symlinks", false, "serve static files through symlinks that lead out of DIR (default: 404)")
	// Development.
	f.BoolVar(&cfg.Reload, "reload", false, "development only: restart the app's worker when its source changes; a broken import is served as a traceback page")
	f.StringArrayVar(&cfg.ReloadInclude, "reload-include", nil, "with --reload: glob of more files watched, added to *.py, matched against the file name or, with a /, its path under the app directory (repeatable)")
	f.StringArrayVar(&cfg.ReloadExclude, "reload-exclude", nil, "with --reload: glob of files whose changes are ignored (repeatable)")
	f.StringArrayVar(&cfg.ReloadExtraFiles, "reload-extra-file", nil, "with --reload: another file whose change reloads, e.g. a template or .env (repeatable)")
	// Operations: logs, request ids, metrics and health.
	f.StringVar(&cfg.AccessLogFormat, "access-logformat", cfg.AccessLogFormat, "access log line in gunicorn's %(atom)s format (h l u t r m U q H s B b f a T M D L p {header}i {header}o)")
	f.StringVar(&cfg.LogFormat, "log-format", cfg.LogFormat, "text, or json (one object a line, with the request id) for both logs")
	f.StringVar(&cfg.ErrorLogFile, "error-logfile", cfg.ErrorLogFile, "error log file, - for stderr; reopened on SIGUSR1")
	f.StringVar(&cfg.RequestIDHeader, "request-id-header", cfg.RequestIDHeader, "request id header honoured from the client, else made; the app sees it as HTTP_<NAME>")
	f.StringVar(&cfg.MetricsBind, "metrics-bind", "", "HOST:PORT serving Prometheus /metrics, /healthz and /readyz (default off)")
	f.Var(secondsOrDuration{&cfg.ReadyTimeout}, "ready-timeout", "/readyz fails unless a Python thread comes free within this")
	return cmd
}

// applyEnvironment sets every flag not given on the command line from
// GOWSGI_<FLAG> (dashes become underscores); list flags split on commas.
func applyEnvironment(flags *pflag.FlagSet) error {
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		value, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			err = sv.Replace(strings.Split(value, ","))
		} else {
			err = f.Value.Set(value)
		}
		if err != nil {
			err = fmt.Errorf("%s=%q: %w", name, value, err)
		}
	})
	return err
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the versions of gowsgi, Go and the linked Python",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			py := strings.ReplaceAll(pybridge.BuiltVersion(), "\n", " ")
			fmt.Fprintf(cmd.OutOrStdout(), "gowsgi %s\nGo %s %s/%s\nPython %s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, py)
		},
	}
}
