package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chdirTemp runs the test in a fresh directory holding pyproject.toml
// with text (none when text is "").
func chdirTemp(t *testing.T, text string) {
	t.Helper()
	dir := t.TempDir()
	if text != "" {
		if err := os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
}

func TestPyprojectWithoutGowsgiTableIsNoConfiguration(t *testing.T) {
	chdirTemp(t, "[project]\nname = \"x\"\n[tool.black]\nline-length = 100\n")
	file, err := loadConfigFile("")
	if err != nil || file != nil {
		t.Fatalf("loadConfigFile = %v, %v; want no file and no error", file, err)
	}
}

func TestConfigFileValueTypes(t *testing.T) {
	chdirTemp(t, `[tool.gowsgi]
bind = ["127.0.0.1:1", "127.0.0.1:2"]
pythonpath = "one"
threads = 7
timeout = 2.5
h2c = true
graceful_timeout = 3
header-timeout = "250ms"
`)
	cmd := newRunCommand()
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	set, err := applySettings(cmd.Flags(), "")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"bind":             "[127.0.0.1:1,127.0.0.1:2]",
		"pythonpath":       "[one]",
		"threads":          "7",
		"timeout":          "2.5",
		"h2c":              "true",
		"graceful-timeout": "3", // seconds, as the flag shows them
		"header-timeout":   "0.25",
	}
	for name, value := range want {
		f := cmd.Flags().Lookup(name)
		if f.Value.String() != value || !f.Changed || set.sources[name] != "pyproject.toml [tool.gowsgi]" {
			t.Errorf("%s = %s (changed %v, source %q), want %s from the file", name, f.Value.String(), f.Changed, set.sources[name], value)
		}
	}
}

func TestConfigFileRejectsWhatIsNotASetting(t *testing.T) {
	for _, text := range []string{"help = true\n", "config = \"x.toml\"\n", "[tool.gowsgi.bind]\nx = 1\n", "threads = [1, 2]\n", "threads = \"many\"\n"} {
		chdirTemp(t, "[tool.gowsgi]\n"+text)
		cmd := newRunCommand()
		cmd.Flags().String("config", "", "")
		if err := cmd.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := applySettings(cmd.Flags(), ""); err == nil || !strings.Contains(err.Error(), "pyproject.toml [tool.gowsgi]") {
			t.Errorf("%q: error %v, want one naming the file", text, err)
		}
	}
}

// Every duration flag takes bare seconds, as --timeout does, or a Go
// duration; anything else is refused.
func TestDurationFlagsTakeSecondsOrDurations(t *testing.T) {
	cmd := newRunCommand()
	args := []string{"--graceful-timeout", "30", "--header-timeout", "0.5", "--body-timeout", "1m",
		"--write-timeout", "90s", "--request-timeout", "2", "--ready-timeout", "250ms", "--worker-lifetime", "1h", "--timeout", "2m", "--keep-alive", "7.5"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"graceful-timeout": "30", "header-timeout": "0.5", "body-timeout": "60",
		"write-timeout": "90", "request-timeout": "2", "ready-timeout": "0.25", "worker-lifetime": "3600", "timeout": "120", "keep-alive": "7.5"}
	for name, value := range want {
		if got := cmd.Flags().Lookup(name).Value.String(); got != value {
			t.Errorf("--%s: %s seconds, want %s", name, got, value)
		}
	}
	for _, bad := range []string{"soon", "nan", "inf", "-inf", "1e10", "9999999999"} {
		if err := newRunCommand().ParseFlags([]string{"--graceful-timeout", bad}); err == nil {
			t.Errorf("--graceful-timeout %s was accepted", bad)
		}
	}
}

// --proxy-protocol was a switch: bare, and true in a settings file, still
// mean auto; =required and GOWSGI_PROXY_PROTOCOL=required ask for it.
func TestProxyProtocolFlagValues(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "off"},
		{[]string{"--proxy-protocol"}, "auto"},
		{[]string{"--proxy-protocol=required"}, "required"},
		{[]string{"--proxy-protocol=false"}, "off"},
	} {
		cmd := newRunCommand()
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if got := cmd.Flags().Lookup("proxy-protocol").Value.String(); got != c.want {
			t.Errorf("%q: %s, want %s", c.args, got, c.want)
		}
	}
	if err := newRunCommand().ParseFlags([]string{"--proxy-protocol=sometimes"}); err == nil {
		t.Errorf("--proxy-protocol=sometimes was accepted")
	}

	// The value after the environment and ./pyproject.toml are layered.
	settled := func() string {
		t.Helper()
		cmd := newRunCommand()
		if err := cmd.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := applySettings(cmd.Flags(), ""); err != nil {
			t.Fatal(err)
		}
		return cmd.Flags().Lookup("proxy-protocol").Value.String()
	}
	chdirTemp(t, "[tool.gowsgi]\nproxy_protocol = true\n")
	if got := settled(); got != "auto" {
		t.Errorf("proxy_protocol = true in the file: %s, want auto", got)
	}
	t.Setenv("GOWSGI_PROXY_PROTOCOL", "required")
	if got := settled(); got != "required" {
		t.Errorf("GOWSGI_PROXY_PROTOCOL=required: %s", got)
	}
}

// --config naming a pyproject.toml reads its [tool.gowsgi] table, as the
// default ./pyproject.toml is read, instead of refusing [project] as an
// unknown key.
func TestConfigFlagTakesAPyproject(t *testing.T) {
	chdirTemp(t, "")
	dir := t.TempDir()
	path := filepath.Join(dir, "pyproject.toml")
	if err := os.WriteFile(path, []byte("[project]\nname = \"x\"\n[tool.gowsgi]\nthreads = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := loadConfigFile(path)
	if err != nil || file == nil || file.values["threads"] != int64(3) {
		t.Fatalf("loadConfigFile(%s) = %+v, %v; want threads = 3 from [tool.gowsgi]", path, file, err)
	}
	if err := os.WriteFile(path, []byte("[project]\nname = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfigFile(path); err == nil || !strings.Contains(err.Error(), "no [tool.gowsgi] table") {
		t.Errorf("a pyproject.toml without the table: %v, want an error saying so", err)
	}
}
