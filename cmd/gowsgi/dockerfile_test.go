package main

// The Dockerfile cannot be built here (no Docker engine in CI): this test
// parses it and checks what the image promises: a build stage on the
// runtime's exact Python image with Go copied in, a runtime stage from the
// official slim Python image, a non-root user, `ENTRYPOINT ["gowsgi",
// "run"]`, STOPSIGNAL SIGTERM and 0.0.0.0:8000 bound in the image only.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gowsgi/gowsgi/host"
)

// dockerInstruction is one instruction, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// dockerStage is a FROM and what follows it.
type dockerStage struct {
	image, name string // FROM image (ARGs expanded) AS name
	body        []dockerInstruction
}

// parseDockerfile splits a Dockerfile into its global ARGs and stages.
func parseDockerfile(t *testing.T, text string) (map[string]string, []dockerStage) {
	t.Helper()
	var instructions []dockerInstruction
	var pending string
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		cmd, args, _ := strings.Cut(full, " ")
		instructions = append(instructions, dockerInstruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
	}
	if pending != "" {
		t.Fatalf("Dockerfile ends in a continuation line")
	}
	globals := map[string]string{}
	var stages []dockerStage
	for _, in := range instructions {
		switch {
		case in.cmd == "ARG" && len(stages) == 0:
			name, value, _ := strings.Cut(in.args, "=")
			globals[name] = value
		case in.cmd == "FROM":
			fields := strings.Fields(in.args)
			st := dockerStage{image: os.Expand(fields[0], func(k string) string { return globals[k] })}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			stages = append(stages, st)
		case len(stages) == 0:
			t.Fatalf("%s before the first FROM", in.cmd)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return globals, stages
}

// find returns the args of every instruction cmd in the stage.
func (s dockerStage) find(cmd string) []string {
	var out []string
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	globals, stages := parseDockerfile(t, string(data))
	if !regexp.MustCompile(`^3\.\d+\.\d+$`).MatchString(globals["PYTHON_VERSION"]) {
		t.Errorf("ARG PYTHON_VERSION=%q: want an exact 3.X.Y, shared by the build and runtime stages", globals["PYTHON_VERSION"])
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build and a runtime stage", len(stages))
	}
	slimPython := regexp.MustCompile(`^python:3\.\d+\.\d+-slim(-\w+)?$`)
	var build *dockerStage
	for i := range stages {
		if stages[i].name == "build" {
			build = &stages[i]
		}
	}
	runtime := stages[len(stages)-1]

	t.Run("build stage", func(t *testing.T) {
		if build == nil {
			t.Fatal("no stage named build")
		}
		if build.image != runtime.image {
			t.Errorf("build stage FROM %s, runtime FROM %s: the build must use the runtime's exact Python (headers, libpython)", build.image, runtime.image)
		}
		if !slices.ContainsFunc(build.find("COPY"), func(a string) bool { return strings.HasPrefix(a, "--from=") && strings.Contains(a, "/usr/local/go") }) {
			t.Errorf("build stage does not copy Go from the golang image: COPY %v", build.find("COPY"))
		}
		var goStage bool
		for _, st := range stages {
			goStage = goStage || strings.HasPrefix(st.image, "golang:")
		}
		if !goStage {
			t.Error("no golang image stage to copy Go from")
		}
		if !slices.ContainsFunc(build.find("RUN"), func(a string) bool { return strings.Contains(a, "make build") }) {
			t.Errorf("build stage does not run make build (cgo against the image's python3-embed.pc): RUN %v", build.find("RUN"))
		}
	})

	t.Run("runtime stage", func(t *testing.T) {
		if !slimPython.MatchString(runtime.image) {
			t.Errorf("runtime FROM %s: want the official slim Python image", runtime.image)
		}
		if !slices.ContainsFunc(runtime.find("COPY"), func(a string) bool {
			return strings.HasPrefix(a, "--from=build ") && strings.HasSuffix(a, " /usr/local/bin/gowsgi")
		}) {
			t.Errorf("runtime stage does not copy the built binary to /usr/local/bin/gowsgi: COPY %v", runtime.find("COPY"))
		}
		users := runtime.find("USER")
		if len(users) == 0 {
			t.Fatal("no USER: the server would run as root")
		}
		user := strings.Split(users[len(users)-1], ":")[0]
		if user == "root" || user == "0" {
			t.Errorf("USER %s: want a non-root user", user)
		}
		if !slices.ContainsFunc(runtime.find("RUN"), func(a string) bool { return strings.Contains(a, "useradd") && strings.HasSuffix(a, " "+user) }) {
			t.Errorf("user %s is not created with useradd in the runtime stage", user)
		}
		var entry []string
		if e := runtime.find("ENTRYPOINT"); len(e) != 1 || json.Unmarshal([]byte(e[0]), &entry) != nil {
			t.Fatalf("ENTRYPOINT %v: want one, in exec (JSON) form", e)
		}
		if !slices.Equal(entry, []string{"gowsgi", "run"}) {
			t.Errorf("ENTRYPOINT %q, want [\"gowsgi\", \"run\"]", entry)
		}
		if s := runtime.find("STOPSIGNAL"); !slices.Equal(s, []string{"SIGTERM"}) {
			t.Errorf("STOPSIGNAL %v, want SIGTERM (gowsgi's graceful stop)", s)
		}
		if !slices.ContainsFunc(runtime.find("ENV"), func(a string) bool { return slices.Contains(strings.Fields(a), "GOWSGI_BIND=0.0.0.0:8000") }) {
			t.Errorf("runtime ENV %v lacks GOWSGI_BIND=0.0.0.0:8000", runtime.find("ENV"))
		}
		if !slices.Contains(runtime.find("EXPOSE"), "8000") {
			t.Errorf("EXPOSE %v, want 8000", runtime.find("EXPOSE"))
		}
	})

	// 0.0.0.0 is the image's choice only: gowsgi itself binds loopback.
	if binds := host.DefaultConfig().Binds; !slices.Equal(binds, []string{"127.0.0.1:8000"}) {
		t.Errorf("gowsgi's default bind is %v, want 127.0.0.1:8000 (0.0.0.0 only in the image)", binds)
	}
}
