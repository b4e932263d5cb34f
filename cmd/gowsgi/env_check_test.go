package main

import (
	"slices"
	"testing"
)

func TestUnknownEnvironmentWarnsAboutTypos(t *testing.T) {
	flags := newRunCommand().Flags()
	environ := []string{
		"GOWSGI_THREAD=8",         // a typo of GOWSGI_THREADS
		"GOWSGI_THREADS=4",        // a setting
		"GOWSGI_APP=hello",        // the app
		"GOWSGI_BIND=0.0.0.0:80",  // a setting
		"GOWSGI_WORKER_BEAT=1s",   // set by the master for its workers
		"GOWSGI_FROBNICATE=yes",   // nothing near it
		"PATH=/usr/bin",           // not gowsgi's
		"GOWSGI_HELP=1",           // --help is not a setting
		"GOWSGI_LOGLEVEL=debug",   // GOWSGI_LOG_LEVEL
		"GOWSGI_VIRTUALENV=/venv", // a setting
	}
	got := unknownEnvironment(flags, environ)
	want := []string{
		"GOWSGI_FROBNICATE is not a gowsgi setting and is ignored",
		"GOWSGI_HELP is not a gowsgi setting and is ignored",
		"GOWSGI_LOGLEVEL is not a gowsgi setting and is ignored; did you mean GOWSGI_LOG_LEVEL?",
		"GOWSGI_THREAD is not a gowsgi setting and is ignored; did you mean GOWSGI_THREADS?",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("warnings:\n%q\nwant:\n%q", got, want)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"threads", "threads", 0},
		{"thread", "threads", 1}, {"kitten", "sitting", 3}, {"loglevel", "log_level", 1},
	} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := editDistance(c.b, c.a); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.b, c.a, got, c.want)
		}
	}
}
