package host

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReloadWatcherMatchesAndSkips(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"pkg/sub", ".git/objects", "pkg/__pycache__", "node_modules/x", "venv/lib", "data/big"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "venv", "pyvenv.cfg"), []byte("version = 3.11.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Chdir = root
	cfg.ReloadInclude = []string{"templates/*.html"} // added to *.py
	cfg.ReloadExclude = []string{"*_test.py", "data"}
	var logs nopWriter
	rw, err := newReloadWatcher(cfg, NewLogger(&logs, LevelError))
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go rw.run(stop)
	// root, pkg, pkg/sub: not .git, __pycache__, node_modules, the venv or the excluded data.
	if rw.watching != 3 {
		t.Errorf("watching %d directories, want 3 (root, pkg, pkg/sub); list: %v", rw.watching, rw.w.WatchList())
	}
	for path, want := range map[string]bool{
		"app.py": true, "pkg/sub/views.py": true, "pkg/views_test.py": false,
		"notes.txt": false, "templates/index.html": true, "pkg/templates/index.html": false,
	} {
		if got := rw.matches(filepath.Join(root, path)); got != want {
			t.Errorf("matches(%s) = %v, want %v", path, got, want)
		}
	}
	// A burst of saves is one change.
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(filepath.Join(root, "pkg", "sub", "views.py"), []byte("x = 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case path := <-rw.changes:
		if path != filepath.Join(root, "pkg", "sub", "views.py") {
			t.Errorf("change in %s", path)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	select {
	case path := <-rw.changes:
		t.Errorf("a second change (%s) for one burst", path)
	case <-time.After(3 * reloadDebounce):
	}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }
