package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// --reload (development only): a watcher in the master turns saves under
// the app's source tree into the master's ordinary reload (SIGHUP): a new
// worker imports the new code while the old one keeps serving, and the old
// one drains once the new one is ready. The listening sockets belong to
// the master, so no connection is refused during the swap. fsnotify uses
// inotify on Linux: no polling.

const (
	// reloadDebounce: an editor's save is a burst of events (write,
	// rename, chmod); act once, this long after the last of them...
	reloadDebounce = 50 * time.Millisecond
	// reloadMaxDelay: ...but no later than this after the first.
	reloadMaxDelay = 500 * time.Millisecond
)

// defaultReloadInclude is what --reload always watches; --reload-include
// adds to it.
var defaultReloadInclude = []string{"*.py"}

// skippedDirs are never watched: no source the app imports changes there,
// and they can hold many thousands of files.
var skippedDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, "__pycache__": true,
	"node_modules": true, ".tox": true, ".nox": true, ".mypy_cache": true,
	".pytest_cache": true, ".ruff_cache": true,
}

// reloadWatcher reports changes to the watched files on changes, one
// value per debounced burst.
type reloadWatcher struct {
	w        *fsnotify.Watcher
	roots    []string
	include  []string
	exclude  []string
	extra    map[string]bool // absolute paths of --reload-extra-file
	log      *Logger
	changes  chan string // the first changed path of a burst
	watching int         // directories added
}

// reloadRoots are the directories the app's code comes from: --chdir (or
// the working directory) and each --pythonpath entry, as in support.py.
func (c *Config) reloadRoots() ([]string, error) {
	base := c.Chdir
	if base == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		base = wd
	}
	base, err := filepath.Abs(base)
	if err != nil {
		return nil, err
	}
	roots := []string{base}
	for _, p := range c.PythonPath {
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		roots = append(roots, filepath.Clean(p))
	}
	return roots, nil
}

func newReloadWatcher(cfg Config, logger *Logger) (*reloadWatcher, error) {
	roots, err := cfg.reloadRoots()
	if err != nil {
		return nil, fmt.Errorf("--reload: %w", err)
	}
	// Added to *.py, as uvicorn's --reload-include is: a user who adds
	// templates still expects a code change to reload (--reload-exclude
	// '*.py' takes it away).
	include := append(slices.Clone(defaultReloadInclude), cfg.ReloadInclude...)
	for _, p := range append(append([]string{}, include...), cfg.ReloadExclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, &ConfigError{fmt.Errorf("--reload-include/--reload-exclude %q: %w", p, err)}
		}
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("--reload: start the file watcher: %w", err)
	}
	rw := &reloadWatcher{
		w: fw, roots: roots, include: include, exclude: cfg.ReloadExclude,
		extra: map[string]bool{}, log: logger, changes: make(chan string, 1),
	}
	for _, root := range roots {
		rw.addTree(root)
	}
	for _, f := range cfg.ReloadExtraFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			fw.Close()
			return nil, fmt.Errorf("--reload-extra-file %s: %w", f, err)
		}
		rw.extra[abs] = true
		// The directory, not the file: editors save by renaming a new
		// file over the old one, which would end a watch on the file.
		if err := fw.Add(filepath.Dir(abs)); err != nil {
			fw.Close()
			return nil, fmt.Errorf("--reload-extra-file %s: %w", f, err)
		}
	}
	logger.Infof("Watching %d directories under %s for changes to %s (--reload)", rw.watching, strings.Join(roots, ", "), strings.Join(include, ", "))
	return rw, nil
}

// addTree watches dir and every directory under it that can hold source.
func (rw *reloadWatcher) addTree(dir string) {
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				rw.log.Warningf("--reload: cannot watch %s: %v", path, err)
			}
			return nil // an unreadable subdirectory is skipped
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && (skipDir(path, d.Name()) || matchAny(rw.exclude, path, rw.relative(path))) {
			return filepath.SkipDir
		}
		if err := rw.w.Add(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone since it was listed
			}
			if errors.Is(err, syscall.ENOSPC) {
				rw.log.Warningf("--reload: out of inotify watches after %d directories (at %s); changes further on are missed\nhint: narrow the tree with --chdir, or raise the limit: sysctl fs.inotify.max_user_watches=524288", rw.watching, path)
				return filepath.SkipAll
			}
			rw.log.Warningf("--reload: cannot watch %s: %v", path, err)
			return filepath.SkipDir
		}
		rw.watching++
		return nil
	})
}

// skipDir says whether a directory holds no source worth watching: VCS
// data, caches, node_modules, and virtualenvs (they have a pyvenv.cfg).
func skipDir(path, name string) bool {
	if skippedDirs[name] || strings.HasSuffix(name, ".egg-info") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "pyvenv.cfg"))
	return err == nil
}

// matches says whether a change to path should reload: an extra file, or
// a file whose name (or path under its root, for patterns with a slash)
// matches an include pattern and no exclude pattern.
func (rw *reloadWatcher) matches(path string) bool {
	if rw.extra[path] {
		return true
	}
	rel := rw.relative(path)
	return matchAny(rw.include, path, rel) && !matchAny(rw.exclude, path, rel)
}

// relative is path under the first root that holds it (else path).
func (rw *reloadWatcher) relative(path string) string {
	for _, root := range rw.roots {
		if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return path
}

func matchAny(patterns []string, path, rel string) bool {
	base := filepath.Base(path)
	for _, p := range patterns {
		subject := base
		if strings.Contains(p, "/") {
			subject = rel
		}
		if ok, _ := filepath.Match(p, subject); ok {
			return true
		}
	}
	return false
}

// run forwards debounced changes until stop, then closes the watcher.
func (rw *reloadWatcher) run(stop <-chan struct{}) {
	defer rw.w.Close()
	var (
		timer   *time.Timer
		fire    <-chan time.Time
		first   time.Time
		changed string
	)
	for {
		select {
		case <-stop:
			return
		case err, ok := <-rw.w.Errors:
			if !ok {
				return
			}
			rw.log.Warningf("--reload: file watcher: %v", err)
		case ev, ok := <-rw.w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() && !skipDir(ev.Name, fi.Name()) &&
					!matchAny(rw.exclude, ev.Name, rw.relative(ev.Name)) {
					rw.addTree(ev.Name) // a new package: watch it too
				}
			}
			if ev.Op == fsnotify.Chmod || !rw.matches(ev.Name) {
				continue
			}
			now := time.Now()
			if fire == nil {
				first, changed = now, ev.Name
			}
			wait := min(reloadDebounce, reloadMaxDelay-now.Sub(first))
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			fire = timer.C
		case <-fire:
			fire = nil
			select {
			case rw.changes <- changed:
			default: // a reload is already pending: it picks this up too
			}
		}
	}
}
