// Command gowsgi serves a Python WSGI application over HTTP from Go.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/gowsgi/gowsgi/host"
	"github.com/gowsgi/gowsgi/pybridge"
)

// Exit codes: 2 for what the user must fix before anything can run (bad
// flags, an app that will not import), 1 for failures while running.
const (
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	root := newRootCommand()
	err := root.Execute()
	if err == nil {
		return
	}
	var load *pybridge.LoadError
	var usage usageError
	var config *host.ConfigError
	var exit *host.ExitError
	switch {
	case errors.As(err, &exit):
		if exit.Msg != "" { // "": the message was printed already
			fmt.Fprintf(os.Stderr, "gowsgi: %v\n", exit)
		}
		os.Exit(exit.Code)
	case errors.As(err, &load):
		printError("cannot load the app: " + load.Message)
		os.Exit(exitUsage)
	case errors.As(err, &usage), errors.As(err, &config):
		printError(err.Error())
		os.Exit(exitUsage)
	default:
		printError(err.Error())
		os.Exit(exitRuntime)
	}
}

// printError prints an error's line and, on a line of its own, its hint.
func printError(msg string) {
	line, hint := host.SplitHint(msg)
	fmt.Fprintf(os.Stderr, "gowsgi: %s\n", line)
	if hint != "" {
		fmt.Fprintf(os.Stderr, "gowsgi: hint: %s\n", hint)
	}
}

// usageError marks a mistake in the command line or its environment.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
