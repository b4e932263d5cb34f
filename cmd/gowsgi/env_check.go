package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/gowsgi/gowsgi/host"
)

// unknownEnvironment returns a warning for each GOWSGI_* variable that
// names no setting, such as GOWSGI_THREAD for GOWSGI_THREADS. Such a
// typo would otherwise leave the setting at its default without a word.
// It is a warning, not an error like an unknown configuration file key:
// the environment of a container or a CI job is often shared with other
// tools and other gowsgi versions.
func unknownEnvironment(flags *pflag.FlagSet, environ []string) []string {
	known := map[string]bool{envName(appKey): true}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" { // not a setting
			known[envName(f.Name)] = true
		}
	})
	var warnings []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GOWSGI_") || known[name] || host.IsWorkerVariable(name) {
			continue
		}
		warning := fmt.Sprintf("%s is not a gowsgi setting and is ignored", name)
		if near := nearestName(name, known); near != "" {
			warning += fmt.Sprintf("; did you mean %s?", near)
		}
		warnings = append(warnings, warning)
	}
	sort.Strings(warnings)
	return warnings
}

// nearestName returns the name in names closest to name, if it is at
// most one edit away, or two for a name longer than GOWSGI_ and five
// letters; else "". (GOWSGI_HELP is not a near miss of GOWSGI_HTTP.)
func nearestName(name string, names map[string]bool) string {
	limit := 1
	if len(name) > len("GOWSGI_")+5 {
		limit = 2
	}
	best, bestDistance := "", limit+1
	for candidate := range names {
		if d := editDistance(name, candidate); d < bestDistance || (d == bestDistance && candidate < best) {
			best, bestDistance = candidate, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	previous := make([]int, len(b)+1)
	current := make([]int, len(b)+1)
	for j := range previous {
		previous[j] = j
	}
	for i := 1; i <= len(a); i++ {
		current[0] = i
		for j := 1; j <= len(b); j++ {
			substitution := previous[j-1]
			if a[i-1] != b[j-1] {
				substitution++
			}
			current[j] = min(substitution, previous[j]+1, current[j-1]+1)
		}
		previous, current = current, previous
	}
	return previous[len(b)]
}
