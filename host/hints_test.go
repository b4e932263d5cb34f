package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gowsgi/gowsgi/pybridge"
)

// checkHint asserts err is one line plus a hint line holding each want.
func checkHint(t *testing.T, err error, line []string, hint []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	l, h := SplitHint(err.Error())
	if strings.Contains(l, "\n") || h == "" || strings.Contains(h, "\n") {
		t.Fatalf("want one line and one hint line, got %q", err.Error())
	}
	for _, w := range line {
		if !strings.Contains(l, w) {
			t.Errorf("line %q lacks %q", l, w)
		}
	}
	for _, w := range hint {
		if !strings.Contains(h, w) {
			t.Errorf("hint %q lacks %q", h, w)
		}
	}
}

func TestLowPortErrorNamesAddressAndRemedies(t *testing.T) {
	checkHint(t, lowPortError("0.0.0.0:80"),
		[]string{"listen on 0.0.0.0:80", "permission denied"},
		[]string{"port 80 is below 1024", "8000", "cap_net_bind_service"})
}

func TestAddressInUseErrorNamesAddress(t *testing.T) {
	checkHint(t, addressInUseError("[::1]:8000"),
		[]string{"listen on [::1]:8000", "address already in use"},
		[]string{"sport = :8000", "--bind"})
}

func TestVenvOfAnotherPythonIsRefusedWithHint(t *testing.T) {
	built := minorVersion(pybridge.BuiltVersion())
	other := "3.2"
	if built == other {
		other = "3.3"
	}
	venv := t.TempDir()
	cfg := "home = /usr/bin\ninclude-system-site-packages = false\nversion = " + other + ".5\n"
	if err := os.WriteFile(filepath.Join(venv, "pyvenv.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	checkHint(t, checkVenvVersion(venv),
		[]string{venv, "is Python " + other, "built against Python " + built},
		[]string{"PYTHON=python" + other + " make build", "python" + built + " -m venv"})

	// The same minor version passes.
	cfg = "home = /usr/bin\nversion_info = " + built + ".0.final.0\n"
	if err := os.WriteFile(filepath.Join(venv, "pyvenv.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkVenvVersion(venv); err != nil {
		t.Fatalf("a %s venv refused: %v", built, err)
	}
}
