package host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The operations port (--metrics-bind) serves, apart from the app:
//
//	/metrics  Prometheus text (client_golang)
//	/healthz  200 while the process is up (liveness)
//	/readyz   200 once the app is imported and a Python thread comes free
//	          within --ready-timeout, else 503 (readiness)
//
// In master mode the master serves it; see metrics.go for how the
// workers' counters reach it.
const (
	metricsPath = "/metrics"
	healthPath  = "/healthz"
	readyPath   = "/readyz"
)

// validateOperations checks the logging, request id and metrics flags.
func (c *Config) validateOperations() error {
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if _, err := parseAccessLogFormat(c.AccessLogFormat); err != nil {
		return err
	}
	if _, err := newRequestIDs(c.RequestIDHeader); err != nil {
		return err
	}
	if c.ReadyTimeout < 0 {
		return fmt.Errorf("--ready-timeout %s: must not be negative", c.ReadyTimeout)
	}
	if c.MetricsBind != "" {
		if _, _, err := net.SplitHostPort(c.MetricsBind); err != nil {
			return fmt.Errorf("--metrics-bind %q: want HOST:PORT: %w", c.MetricsBind, err)
		}
	}
	return nil
}

// opsServer is the HTTP server of --metrics-bind.
type opsServer struct {
	srv *http.Server
	ln  net.Listener
}

// startOpsServer listens on addr and serves the collector's metrics and
// the probes; ready says whether /readyz answers 200 and, if not, why.
func startOpsServer(addr string, c *metricsCollector, ready func() (bool, string), logger *Logger) (*opsServer, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET "+metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: promLog{logger}}))
	mux.HandleFunc("GET "+healthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+readyPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ok, why := ready(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + why + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("--metrics-bind %s: %w", addr, err)}
	}
	o := &opsServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}}
	go func() {
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Errorf("--metrics-bind %s: %v", addr, err)
		}
	}()
	logger.Infof("Metrics at: http://%s%s (and %s, %s)", ln.Addr(), metricsPath, healthPath, readyPath)
	return o, nil
}

// close stops the operations server (nil-safe); probes fail from now on,
// which is what a stopping pod should show.
func (o *opsServer) close() {
	if o == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = o.srv.Shutdown(ctx)
}

// promLog sends promhttp's errors to the error log.
type promLog struct{ l *Logger }

func (p promLog) Println(v ...any) { p.l.Errorf("metrics: %s", fmt.Sprint(v...)) }

// slotFreeWithin says whether Python can take a request: a slot is idle
// now or within d, or a runner finished a request within d (the queue
// moves; a busy slot is handed from request to request without ever
// being idle). Checked every millisecond: readiness probes are rare.
func (p *pythonSlots) slotFreeWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	since := p.lastProgress.Load()
	for {
		p.mu.Lock()
		free := len(p.idle) > 0
		p.mu.Unlock()
		if free || p.lastProgress.Load() != since {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
