package main

// Settings come in layers: command-line flags win over GOWSGI_*
// environment variables, which win over the configuration file (--config
// FILE, else [tool.gowsgi] in ./pyproject.toml), which wins over the
// defaults. The file's keys are the flag names, so every flag of `run`,
// present and future, can be set there without code of its own.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// appKey is the file key (and GOWSGI_APP) naming the app, so that `gowsgi
// run` needs no APP argument when the project's configuration names it.
const appKey = "app"

// Where a setting came from, as `gowsgi config` prints it.
const (
	sourceFlag     = "flag"
	sourceDefault  = "default"
	sourceArgument = "argument"
)

// settings is the result of layering: the app and where every value came
// from (flag name -> source).
type settings struct {
	app       string
	appSource string
	sources   map[string]string
	file      string // the configuration file read, "" for none
	warnings  []string
}

// configFile is a parsed configuration file: its keys, already normalised
// to flag names, and how to name it in messages.
type configFile struct {
	values map[string]any
	name   string // "gowsgi.toml" or "pyproject.toml [tool.gowsgi]"
	path   string
}

// loadConfigFile reads path (TOML, keys at the top level; the
// [tool.gowsgi] table when it is a pyproject.toml) or, when path is "",
// the [tool.gowsgi] table of ./pyproject.toml if there is one. A missing
// ./pyproject.toml or table is no configuration, not an error.
func loadConfigFile(path string) (*configFile, error) {
	const pyproject = "pyproject.toml"
	switch {
	case path == "":
		file, err := loadPyproject(pyproject)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return file, err
	case filepath.Base(path) == pyproject:
		file, err := loadPyproject(path)
		if err == nil && file == nil {
			err = fmt.Errorf("--config %s: it has no [tool.gowsgi] table", path)
		}
		return file, err
	}
	var values map[string]any
	if _, err := toml.DecodeFile(path, &values); err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return &configFile{values: values, name: path, path: path}, nil
}

// loadPyproject reads the [tool.gowsgi] table of a pyproject.toml, or
// nil when it has none.
func loadPyproject(path string) (*configFile, error) {
	var doc struct {
		Tool map[string]toml.Primitive `toml:"tool"`
	}
	meta, err := toml.DecodeFile(path, &doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	table, ok := doc.Tool["gowsgi"]
	if !ok {
		return nil, nil
	}
	var values map[string]any
	if err := meta.PrimitiveDecode(table, &values); err != nil {
		return nil, fmt.Errorf("%s [tool.gowsgi]: %w", path, err)
	}
	return &configFile{values: values, name: path + " [tool.gowsgi]", path: path}, nil
}

// flagName turns a file key into a flag name: underscores become dashes.
func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// applySettings layers the environment and the configuration file under
// the flags given on the command line and returns where each value came
// from. The file is --config (or GOWSGI_CONFIG), else ./pyproject.toml;
// arg is the APP argument ("" when none was given).
func applySettings(flags *pflag.FlagSet, arg string) (*settings, error) {
	s := &settings{sources: map[string]string{}}
	flags.VisitAll(func(f *pflag.Flag) {
		switch {
		case f.Changed:
			s.sources[f.Name] = sourceFlag
		case hasEnv(f.Name):
			s.sources[f.Name] = "env " + envName(f.Name)
		default:
			s.sources[f.Name] = sourceDefault
		}
	})
	if err := applyEnvironment(flags); err != nil {
		return nil, err
	}
	s.warnings = unknownEnvironment(flags, os.Environ())
	var configPath string
	if f := flags.Lookup("config"); f != nil {
		configPath = f.Value.String()
	}
	file, err := loadConfigFile(configPath)
	if err != nil {
		return nil, err
	}
	if file != nil {
		s.file = file.name
		if err := file.apply(flags, s); err != nil {
			return nil, err
		}
	}
	switch {
	case arg != "":
		s.app, s.appSource = arg, sourceArgument
	case hasEnv(appKey):
		s.app, s.appSource = os.Getenv(envName(appKey)), "env "+envName(appKey)
	case file != nil && file.values[appKey] != nil:
		app, ok := file.values[appKey].(string)
		if !ok {
			return nil, fmt.Errorf("key %q in %s: want a string such as \"module:callable\"", appKey, file.name)
		}
		s.app, s.appSource = app, file.name
	}
	return s, nil
}

// apply sets every flag named in the file that neither the command line
// nor the environment set. An unknown key is an error: a typo must not
// silently leave a setting at its default.
func (c *configFile) apply(flags *pflag.FlagSet, s *settings) error {
	keys := make([]string, 0, len(c.values))
	for key := range c.values {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if key == appKey {
			continue
		}
		name := flagName(key)
		f := flags.Lookup(name)
		if f == nil || name == "help" || name == "config" {
			return fmt.Errorf("unknown key %q in %s", key, c.name)
		}
		if s.sources[name] != sourceDefault {
			continue // a flag or GOWSGI_* variable wins
		}
		if err := setFromFile(f, c.values[key]); err != nil {
			return fmt.Errorf("key %q in %s: %w", key, c.name, err)
		}
		// Changed: the value was chosen, as if given (e.g. --timeout
		// given explicitly starts a master).
		f.Changed = true
		s.sources[name] = c.name
	}
	return nil
}

// setFromFile sets f from a TOML value: arrays for repeatable flags,
// booleans, numbers (seconds for a duration) and strings.
func setFromFile(f *pflag.Flag, value any) error {
	if _, isTable := value.(map[string]any); isTable {
		return fmt.Errorf("--%s takes a value, not a table", f.Name)
	}
	if list, ok := value.([]any); ok {
		sv, isSlice := f.Value.(pflag.SliceValue)
		if !isSlice {
			return fmt.Errorf("--%s takes one value, not an array", f.Name)
		}
		items := make([]string, len(list))
		for i, item := range list {
			switch item.(type) {
			case []any, map[string]any:
				return fmt.Errorf("--%s: array items must be strings or numbers", f.Name)
			}
			items[i] = tomlText(item)
		}
		return sv.Replace(items)
	}
	text := tomlText(value) // a bare number is seconds for a duration flag (secondsOrDuration)
	if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
		return sv.Replace([]string{text})
	}
	return f.Value.Set(text)
}

// tomlText is a TOML scalar as a flag would be written.
func tomlText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Sprint(v)
	}
}

func envName(flag string) string {
	return "GOWSGI_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

func hasEnv(flag string) bool {
	_, ok := os.LookupEnv(envName(flag))
	return ok
}
