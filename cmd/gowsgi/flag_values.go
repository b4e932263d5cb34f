package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/gowsgi/gowsgi/host"
)

// Flag values that pflag has no type for.

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
		// NaN, ±Inf and anything past Duration's range (about 292
		// years) would convert to a nonsense negative value.
		if math.IsNaN(seconds) || math.Abs(seconds) > maxDurationSeconds {
			return fmt.Errorf("want seconds (3600) or a duration (1h), at most %.0f seconds", maxDurationSeconds)
		}
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

// maxDurationSeconds is the most seconds a time.Duration holds, rounded
// down so that the product with time.Second stays in range.
const maxDurationSeconds = float64(math.MaxInt64/int64(time.Second)) - 1

// secondsOrDurationType is its Type: `gowsgi config` writes such a value
// as a TOML number of seconds.
const secondsOrDurationType = "seconds|duration"

func (v secondsOrDuration) Type() string { return secondsOrDurationType }

// proxyProtocolFlag is --proxy-protocol[=off|auto|required]. Given bare it
// means auto, so the switch it used to be still reads the same, and a
// settings file's `proxy_protocol = true` too.
type proxyProtocolFlag struct{ mode *host.ProxyProtocolMode }

var _ pflag.Value = proxyProtocolFlag{}

func (v proxyProtocolFlag) String() string {
	if v.mode == nil {
		return host.ProxyProtocolOff.String()
	}
	return v.mode.String()
}

func (v proxyProtocolFlag) Set(text string) error {
	mode, err := host.ParseProxyProtocolMode(text)
	if err != nil {
		return err
	}
	*v.mode = mode
	return nil
}

func (v proxyProtocolFlag) Type() string { return "off|auto|required" }
