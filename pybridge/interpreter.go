package pybridge

/*
#include <stdlib.h>
#include "bridge.h"
*/
import "C"

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

//go:embed support.py
var supportSource string

// checkSource is appended to support.py for `gowsgi check` only (Check).
//
//go:embed check.py
var checkSource string

// Config says which Python to run and what to load in it.
type Config struct {
	// Program is the python executable Python locates itself from:
	// "<venv>/bin/python" to run inside a virtualenv, "" for the Python
	// gowsgi was built against.
	Program string
	// PythonPath entries go on sys.path after the working directory.
	PythonPath []string
	// App is "module", "module:callable" or "module:factory(args)".
	App string
	// KnownKeys are environ keys interned once (see PackedEnviron).
	KnownKeys []string
	// Multithread and Multiprocess become wsgi.multithread/multiprocess.
	Multithread, Multiprocess bool
	// ErrorLog receives wsgi.errors output, one record per call.
	ErrorLog func(string)
	// Check wraps the app in the checks of `gowsgi check` (check.py):
	// wsgiref.validate plus gowsgi's own; CheckFindings collects them.
	Check bool

	// A --reload warm spare imports Preload (module names) ahead of the
	// app, then BeforeLoad runs (with the GIL released) and may block
	// until the app is wanted; an error from it ends Start. It gets the
	// modules under AppRoots that the preload imported: app code that
	// would go stale.
	Preload    []string
	BeforeLoad func(tainted []string) error
	// AppRoots are the directories of the app's own code. With
	// ListModules, Info.Modules lists what a spare may preload.
	AppRoots    []string
	ListModules bool
}

// Info describes the running interpreter, for the startup log.
type Info struct {
	Version    string   `json:"version"`
	Prefix     string   `json:"prefix"`
	BasePrefix string   `json:"base_prefix"`
	Executable string   `json:"executable"`
	Path       []string `json:"path"`
	// Modules are the loaded stdlib modules and third-party top-level
	// packages (Config.ListModules).
	Modules []string `json:"-"`
}

// LoadError means the app could not be imported or is not a WSGI callable.
// Message is one line for the common cases (module or attribute missing,
// not callable) and the Python traceback when the app's own code raised.
type LoadError struct{ Message string }

func (e *LoadError) Error() string { return e.Message }

// Interpreter is the one embedded CPython of this process.
type Interpreter struct {
	stop chan struct{}
	done chan error
}

// errorLog is where wsgi.errors goes; set once by Start.
var errorLog func(string)

// started guards against a second interpreter: CPython allows one.
var started bool

// Start initialises Python on a goroutine locked to its OS thread for the
// life of the process, sets up sys.path and imports the app. The GIL is
// released when it returns; Python threads come from NewThread.
func Start(cfg Config) (*Interpreter, Info, error) {
	if started {
		return nil, Info{}, errors.New("pybridge: the interpreter is already started")
	}
	started = true
	errorLog = cfg.ErrorLog
	in := &Interpreter{stop: make(chan struct{}), done: make(chan error, 1)}
	type startResult struct {
		info Info
		err  error
	}
	ready := make(chan startResult, 1)
	go func() {
		// Python's main thread state lives on this OS thread for good.
		runtime.LockOSThread()
		info, err := initialise(cfg)
		ready <- startResult{info, err}
		if err != nil {
			return
		}
		<-in.stop
		if rc := C.gw_finalize(); rc != 0 {
			in.done <- fmt.Errorf("finalize Python: Py_FinalizeEx returned %d", int(rc))
			return
		}
		in.done <- nil
	}()
	r := <-ready
	if r.err != nil {
		return nil, Info{}, r.err
	}
	return in, r.info, nil
}

// initialise runs on the locked init thread and returns with the GIL released.
func initialise(cfg Config) (Info, error) {
	program := cfg.Program
	if program == "" {
		if p := C.gw_default_program(); p != nil {
			program = C.GoString(p)
			C.free(unsafe.Pointer(p))
		}
	}
	if _, err := os.Stat(program); err != nil {
		return Info{}, fmt.Errorf("find the python executable for sys.executable: %w", err)
	}
	cProgram := C.CString(program)
	defer C.free(unsafe.Pointer(cProgram))
	source, loader := supportSource, "load_app"
	if cfg.Check {
		source, loader = supportSource+"\n"+checkSource, "check_load_app"
	}
	cSupport := C.CString(source)
	defer C.free(unsafe.Pointer(cSupport))
	keys := make([]*C.char, len(cfg.KnownKeys)+1)
	for i, k := range cfg.KnownKeys {
		keys[i] = C.CString(k)
		defer C.free(unsafe.Pointer(keys[i]))
	}
	var cerr *C.char
	if C.gw_init(cProgram, cSupport, &keys[0], C.int(len(cfg.KnownKeys)),
		cBool(cfg.Multithread), cBool(cfg.Multiprocess), &cerr) != 0 {
		return Info{}, fmt.Errorf("start Python (%s): %s", program, takeCString(cerr))
	}
	// From here the GIL is held by this thread until gw_release_init_thread.
	defer C.gw_release_init_thread()

	setup, err := json.Marshal(map[string]any{"pythonpath": cfg.PythonPath})
	if err != nil {
		return Info{}, fmt.Errorf("encode python setup: %w", err)
	}
	out, err := supportCall("setup", string(setup))
	if err != nil {
		return Info{}, fmt.Errorf("set up sys.path: %w", err)
	}
	var info Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		return Info{}, fmt.Errorf("decode python info: %w", err)
	}
	if err := preload(cfg); err != nil {
		return info, err
	}
	cApp, cLoader := C.CString(cfg.App), C.CString(loader)
	defer C.free(unsafe.Pointer(cApp))
	defer C.free(unsafe.Pointer(cLoader))
	if C.gw_load_app(cLoader, cApp, &cerr) != 0 {
		return info, &LoadError{Message: takeCString(cerr)}
	}
	if cfg.ListModules {
		roots, _ := json.Marshal(cfg.AppRoots)
		if out, err := supportCall("preloadable_modules", string(roots)); err == nil {
			_ = json.Unmarshal([]byte(out), &info.Modules)
		}
	}
	return info, nil
}

// preload imports cfg.Preload and runs cfg.BeforeLoad. The caller holds
// the GIL; BeforeLoad runs without it, so that threads the preloaded
// modules started are not stalled while it waits.
func preload(cfg Config) error {
	var tainted []string
	if len(cfg.Preload) > 0 {
		arg, err := json.Marshal(map[string]any{"modules": cfg.Preload, "roots": cfg.AppRoots})
		if err != nil {
			return fmt.Errorf("encode the preload: %w", err)
		}
		out, err := supportCall("preload", string(arg))
		if err != nil {
			return fmt.Errorf("preload modules: %w", err)
		}
		if err := json.Unmarshal([]byte(out), &tainted); err != nil {
			return fmt.Errorf("decode the preload's result: %w", err)
		}
	}
	if cfg.BeforeLoad == nil {
		return nil
	}
	C.gw_release_init_thread()
	defer C.gw_reacquire_init_thread()
	return cfg.BeforeLoad(tainted)
}

// supportCall runs a support.py function taking and returning one str.
// The caller holds the GIL.
func supportCall(fn, arg string) (string, error) {
	cFn, cArg := C.CString(fn), C.CString(arg)
	defer C.free(unsafe.Pointer(cFn))
	defer C.free(unsafe.Pointer(cArg))
	var out, cerr *C.char
	if C.gw_support_call(cFn, cArg, &out, &cerr) != 0 {
		return "", errors.New(takeCString(cerr))
	}
	return takeCString(out), nil
}

// Stop finalises Python (atexit handlers run) on the init thread. Every
// Thread must be closed first.
func (in *Interpreter) Stop() error {
	close(in.stop)
	return <-in.done
}

// BuiltVersion is the version of the libpython gowsgi is linked with.
func BuiltVersion() string { return C.GoString(C.gw_python_version()) }

// DefaultProgram is the python executable that belongs to the linked
// libpython (<prefix>/bin/python3.X), or "" if it cannot be found.
func DefaultProgram() string {
	p := C.gw_default_program()
	if p == nil {
		return ""
	}
	return takeCString(p)
}

// takeCString converts and frees a malloc'd C string.
func takeCString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(s))
	return C.GoString(s)
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
