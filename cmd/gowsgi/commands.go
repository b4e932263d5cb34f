package main

import (
	"fmt"
	"os"
	"runtime"
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
	root.AddCommand(newRunCommand(), newVersionCommand())
	return root
}

func newRunCommand() *cobra.Command {
	cfg := host.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "run [flags] APP",
		Short: "Serve a WSGI app (module:callable, module, or module:factory(args))",
		Long: `Serve a WSGI app over HTTP.

APP is module:callable, a bare module (its "application", else its "app"),
or module:factory(args) where args are Python literals.

Every flag can also be set in the environment as GOWSGI_<FLAG>, e.g.
GOWSGI_THREADS=8 or GOWSGI_BIND=127.0.0.1:8000,[::1]:8000.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("run takes exactly one APP argument (module:callable), got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnvironment(cmd.Flags()); err != nil {
				return usageError{err}
			}
			cfg.App = args[0]
			if err := cfg.Validate(); err != nil {
				return usageError{err}
			}
			return host.Run(cfg)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&cfg.Binds, "bind", "b", cfg.Binds, "address to listen on, HOST:PORT (repeatable)")
	f.IntVar(&cfg.Threads, "threads", cfg.Threads, "Python threads serving requests")
	f.StringVar(&cfg.Chdir, "chdir", "", "change to this directory before loading the app (it goes first on sys.path)")
	f.StringArrayVar(&cfg.PythonPath, "pythonpath", nil, "directory to add to sys.path (repeatable)")
	f.StringVar(&cfg.Virtualenv, "virtualenv", os.Getenv("VIRTUAL_ENV"), "virtualenv whose site-packages the app uses (default $VIRTUAL_ENV)")
	f.StringVar(&cfg.RootPath, "root-path", "", "mount point of the app, passed as SCRIPT_NAME")
	f.DurationVar(&cfg.GracefulTimeout, "graceful-timeout", cfg.GracefulTimeout, "time in-flight requests get to finish after SIGTERM/SIGINT")
	f.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "error log level: debug, info, warning, error, critical")
	f.StringVar(&cfg.ForwardedAllowIPs, "forwarded-allow-ips", cfg.ForwardedAllowIPs, "peers trusted to set X-Forwarded-*/Forwarded: IPs, CIDRs or *, comma-separated (unix-socket peers always)")
	f.StringVar(&cfg.AccessLogFile, "access-logfile", "", "access log file, - for stdout (default off)")
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
		name := "GOWSGI_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
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
