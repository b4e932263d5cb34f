package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/gowsgi/gowsgi/host"
)

// newCheckCommand is `gowsgi check APP`: load the app as run would, send it
// synthetic requests through the real handler, print what is wrong.
func newCheckCommand() *cobra.Command {
	return newAppCommand("check [flags] APP", "Check a WSGI app against PEP 3333 with synthetic requests",
		`Check a WSGI app: import it as run would, send it GET /, HEAD /, a POST
with a form body, OPTIONS * and a POST with a chunked body through the real
request handler (no socket), with the app wrapped in wsgiref.validate and
gowsgi's own checks (close() called, Content-Length equal to the body, no
hop-by-hop headers, headers are str). Prints one line per finding with where
it came from, then a summary. Exit status: 0 clean, 1 findings, 2 the app
could not be loaded.`,
		func(cmd *cobra.Command, cfg host.Config, _ *settings) error {
			findings, err := host.Check(cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, f := range findings {
				fmt.Fprintln(out, f)
			}
			if len(findings) == 0 {
				fmt.Fprintf(out, "gowsgi check: %s: no findings in %d requests\n", cfg.App, host.CheckRequests())
				return nil
			}
			fmt.Fprintf(out, "gowsgi check: %s: %d finding(s) in %d requests\n", cfg.App, len(findings), host.CheckRequests())
			return &host.ExitError{Code: exitRuntime, Msg: fmt.Sprintf("check found %d problem(s) in %s", len(findings), cfg.App)}
		})
}
