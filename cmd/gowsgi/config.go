package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gowsgi/gowsgi/host"
)

// newConfigCommand is `gowsgi config [flags] [APP]`: the effective
// settings of run, each with where it came from. The output is TOML, so
// it can start a configuration file.
func newConfigCommand() *cobra.Command {
	return newAppCommand("config [flags] [APP]", "Print the effective configuration and where each value came from",
		`Print every setting run would use, as TOML, each followed by its source:
flag, env GOWSGI_NAME, the configuration file, or default.`,
		func(cmd *cobra.Command, _ host.Config, set *settings) error {
			out := cmd.OutOrStdout()
			file := set.file
			if file == "" {
				file = "none"
			}
			fmt.Fprintf(out, "# configuration file: %s\n", file)
			for _, w := range set.warnings {
				fmt.Fprintf(out, "# warning: %s\n", w)
			}
			if set.app != "" {
				fmt.Fprintf(out, "%s = %s # %s\n", appKey, strconv.Quote(set.app), set.appSource)
			} else {
				fmt.Fprintf(out, "# %s is not set\n", appKey)
			}
			cmd.Flags().VisitAll(func(f *pflag.Flag) {
				if f.Name == "help" || f.Name == "config" {
					return
				}
				fmt.Fprintf(out, "%s = %s # %s\n", f.Name, tomlValue(f), set.sources[f.Name])
			})
			return nil
		})
}

// tomlValue writes a flag's value as a TOML value.
func tomlValue(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		items := sv.GetSlice()
		quoted := make([]string, len(items))
		for i, item := range items {
			quoted[i] = strconv.Quote(item)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	switch f.Value.Type() {
	case "bool", "int", "int64", "float64", secondsOrDurationType:
		return f.Value.String()
	}
	return strconv.Quote(f.Value.String())
}
