package host

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// The handler benchmarks run the real handler and bridge in this process,
// without sockets: what they report is gowsgi's own cost per request (Go
// side, cgo crossings, environ, the app call), not net/http's parsing or
// the kernel's. Run them with
//
//	go test -run '^$' -bench Handler -benchmem ./host
//
// allocs/op is exact and is the number to compare between commits; ns/op
// moves with the machine's load. Another app can be measured the same way:
//
//	GOWSGI_BENCH_APP=app:application GOWSGI_BENCH_DIR=$PWD/scripts/benchapp \
//	GOWSGI_BENCH_PATH=/flask/json GOWSGI_BENCH_VENV=$PWD/.venv-bench \
//	go test -run '^$' -bench Handler -benchmem ./host

var benchInterp struct {
	once sync.Once
	err  error
}

// startBenchInterpreter starts Python once per test binary with hello.py
// loaded (the interpreter lives until the process exits).
func startBenchInterpreter(b testing.TB) {
	benchInterp.once.Do(func() {
		program, err := pythonProgram(os.Getenv("GOWSGI_BENCH_VENV"))
		if err != nil {
			benchInterp.err = err
			return
		}
		apps, _ := filepath.Abs(filepath.Join("..", "testdata", "apps"))
		if dir := os.Getenv("GOWSGI_BENCH_DIR"); dir != "" {
			apps = dir
		}
		app := "hello:application"
		if a := os.Getenv("GOWSGI_BENCH_APP"); a != "" {
			app = a
		}
		_, _, benchInterp.err = pybridge.Start(pybridge.Config{
			Program:     program,
			PythonPath:  []string{apps},
			App:         app,
			KnownKeys:   environ.KnownKeys(),
			Multithread: true,
			ErrorLog:    func(msg string) { os.Stderr.WriteString(msg + "\n") },
		})
	})
	if benchInterp.err != nil {
		b.Skipf("start Python: %v", benchInterp.err)
	}
}

// benchWriter is a ResponseWriter that keeps nothing, reused across
// iterations as the fast path reuses its per-connection state; its header
// map is a pooled headerStore's, as the fast path's (http1Response).
type benchWriter struct {
	store  *headerStore
	status int
	n      int
}

func newBenchWriter() *benchWriter { return &benchWriter{store: takeHeaderStore()} }

func (w *benchWriter) Header() http.Header         { return w.store.h }
func (w *benchWriter) headerStorage() *headerStore { return w.store }
func (w *benchWriter) WriteHeader(code int)        { w.status = code }
func (w *benchWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *benchWriter) Flush()                      {} // streamed bodies flush each chunk

func (w *benchWriter) reset() {
	w.store.release()
	w.store = takeHeaderStore()
	w.status, w.n = 0, 0
}

// benchRequest is a GET as net/http's server hands it to a handler.
func benchRequest() *http.Request {
	path := "/"
	if p := os.Getenv("GOWSGI_BENCH_PATH"); p != "" {
		path = p
	}
	r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:8000"+path, nil)
	r.RequestURI = path
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header = http.Header{
		"User-Agent":      {"wrk"},
		"Accept":          {"*/*"},
		"Accept-Encoding": {"gzip"},
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000}
	return r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, local))
}

func benchHandler(b testing.TB, threads int) *handler {
	startBenchInterpreter(b)
	cfg := DefaultConfig()
	envConfig, err := cfg.environConfig()
	if err != nil {
		b.Fatal(err)
	}
	ids, err := newRequestIDs(cfg.RequestIDHeader)
	if err != nil {
		b.Fatal(err)
	}
	return &handler{
		python:       newPythonSlots(threads, false),
		envConfig:    envConfig,
		log:          NewLogger(os.Stderr, LevelWarning),
		limits:       cfg.requestLimits(),
		queueTimeout: cfg.QueueTimeout,
		maxQueued:    int64(cfg.MaxQueued),
		ids:          ids,
	}
}

// BenchmarkHandlerHello: one request at a time through the handler.
func BenchmarkHandlerHello(b *testing.B) {
	h := benchHandler(b, 1)
	r := benchRequest()
	w := newBenchWriter()
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}
