package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// secondsOrDuration is a flag that takes a number of seconds ("3600",
// "0.5") or a Go duration ("1h", "90s"): gunicorn-style and Go-style
// command lines both read naturally.
type secondsOrDuration struct{ d *time.Duration }

var _ pflag.Value = secondsOrDuration{}

func (v secondsOrDuration) String() string {
	if v.d == nil {
		return "0"
	}
	return strconv.FormatFloat(v.d.Seconds(), 'f', -1, 64)
}

func (v secondsOrDuration) Set(text string) error {
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		*v.d = time.Duration(seconds * float64(time.Second))
		return nil
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("want seconds (3600) or a duration (1h)")
	}
	*v.d = d
	return nil
}

// secondsOrDurationType is its Type: `gowsgi config` writes such a value
// as a TOML number of seconds.
const secondsOrDurationType = "seconds|duration"

func (v secondsOrDuration) Type() string { return secondsOrDurationType }
