package host

import (
	"context"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
)

// Under --reload, a worker whose app does not import (a SyntaxError or an
// ImportError in the file just saved) does not exit: the master would
// stop, or retry in a loop. It reports ready and answers every request
// with a 500 page showing the traceback, until the next save replaces it.

// loadErrorPage is the page's HTML; the traceback is escaped.
func loadErrorPage(app, traceback string) []byte {
	return []byte(fmt.Sprintf(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>gowsgi: cannot load %[1]s</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#fee;border:1px solid #c99;padding:1em;overflow:auto}</style>
</head>
<body>
<h1>The app %[1]s could not be loaded</h1>
<p>gowsgi --reload serves this page until the next save that imports cleanly.</p>
<pre>%[2]s</pre>
</body>
</html>
`, html.EscapeString(app), html.EscapeString(traceback)))
}

type loadErrorHandler struct{ page []byte }

func (h loadErrorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	if r.Method != http.MethodHead {
		_, _ = w.Write(h.page)
	}
}

// serveLoadError serves the traceback page on listeners as a worker of w
// until a stop signal or the master's end.
func serveLoadError(cfg Config, logger *Logger, fr *front, listeners []net.Listener, w *workerLink, loadErr string, handOver func(chan<- os.Signal)) error {
	logger.Errorf("cannot load the app (serving the traceback as a 500 page until the next change): %s", loadErr)
	srv := fr.server(loadErrorHandler{page: loadErrorPage(cfg.App, loadErr)}, log.New(logWriter{logger}, "", 0))
	conns := newConnTracker()
	srv.ConnState = conns.hook
	serveErr := make(chan error, len(listeners))
	for _, ln := range listeners {
		go func(ln net.Listener) { serveErr <- fr.serve(srv, ln) }(ln)
	}
	logger.Infof("Booting worker with pid: %d (GOMAXPROCS %d)", os.Getpid(), runtime.GOMAXPROCS(0))
	stop := make(chan struct{})
	defer close(stop)
	masterGone := make(chan struct{})
	// No Python runs here: the heartbeat reports an idle handler.
	go w.heartbeat(&handler{python: newPythonSlots(1, false)}, 0, stop, masterGone)
	signals := make(chan os.Signal, 4)
	handOver(signals) // the loading-time handler's TERM, INT and QUIT, each once
	select {
	case sig := <-signals:
		logger.Infof("Handling signal: %s; stopping", signalName(sig))
	case <-masterGone:
		logger.Warningf("the master process is gone; stopping")
	case err := <-serveErr:
		logger.Errorf("serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.GracefulTimeout)
	defer cancel()
	// As in serve: Shutdown alone would drop a request on a connection
	// accepted just before it (the client sees EOF).
	if err := drain(ctx, srv, nil, listeners, conns); err != nil {
		_ = srv.Close()
	}
	return nil
}
