package host

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request metrics are counted by each serving process in plain atomics
// (requestMetrics) and exposed through one prometheus.Collector that
// turns a snapshot of them into client_golang const metrics. One snapshot
// format serves both roles: a single process exposes its own, and in
// master mode every worker sends its snapshot in its heartbeat and the
// master exposes the sum (plus what exited workers had counted, so the
// counters never go back). Per request this costs a handful of atomic
// adds and no label lookup, no lock and no allocation.

// metricMethods are the method label values; anything else is "other".
var metricMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"}

// statusClasses are the status label values.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// durationBounds are the histogram buckets, in seconds, shared by every
// duration metric: from 100 µs (a GIL hand-over, a queue hop) to 10 s.
var durationBounds = [...]float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// durationBoundsNs are durationBounds in nanoseconds, for the hot path.
var durationBoundsNs = func() (ns [len(durationBounds)]int64) {
	for i, s := range durationBounds {
		ns[i] = int64(s * 1e9)
	}
	return ns
}()

func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodDelete:
		return 4
	case http.MethodPatch:
		return 5
	case http.MethodOptions:
		return 6
	}
	return 7
}

func statusIndex(code int) int {
	return min(max(code/100-1, 0), len(statusClasses)-1)
}

// durationHistogram counts observations per bucket (the last one is +Inf)
// and their sum.
type durationHistogram struct {
	counts [len(durationBounds) + 1]atomic.Uint64
	sumNs  atomic.Int64
}

func (h *durationHistogram) observe(d time.Duration) {
	ns := int64(d)
	i := 0
	for i < len(durationBoundsNs) && ns > durationBoundsNs[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(ns)
}

func (h *durationHistogram) snapshot() histogramSnapshot {
	var s histogramSnapshot
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.SumNs = h.sumNs.Load()
	return s
}

// requestMetrics is one process's request counters.
type requestMetrics struct {
	requests   [len(metricMethods)][len(statusClasses)]atomic.Uint64
	inFlight   atomic.Int64
	bytesIn    atomic.Uint64
	bytesOut   atomic.Uint64
	latency    durationHistogram // whole request, as the handler saw it
	queueWait  durationHistogram // waiting for a Python slot (--threads)
	gilWait    durationHistogram // a Python thread waiting to take the GIL
	pythonTime durationHistogram // a Python thread holding the GIL
}

// requestSample is what one request adds to the metrics.
type requestSample struct {
	method             string
	status             int
	bytesIn, bytesOut  int64
	latency, queueWait time.Duration
	gilWait, python    time.Duration
	ranPython          bool // the GIL clocks are only observed when it did
}

func (m *requestMetrics) observe(s *requestSample) {
	m.requests[methodIndex(s.method)][statusIndex(s.status)].Add(1)
	m.bytesIn.Add(uint64(max(s.bytesIn, 0)))
	m.bytesOut.Add(uint64(max(s.bytesOut, 0)))
	m.latency.observe(s.latency)
	if s.ranPython {
		m.queueWait.observe(s.queueWait)
		m.gilWait.observe(s.gilWait)
		m.pythonTime.observe(s.python)
	}
}

// snapshot reads the counters (each one atomically; together they are a
// moment's view, good enough for scraping).
func (m *requestMetrics) snapshot() *metricsSnapshot {
	s := &metricsSnapshot{}
	for i := range m.requests {
		for j := range m.requests[i] {
			s.Requests[i][j] = m.requests[i][j].Load()
		}
	}
	s.InFlight = m.inFlight.Load()
	s.BytesIn, s.BytesOut = m.bytesIn.Load(), m.bytesOut.Load()
	s.Latency, s.QueueWait = m.latency.snapshot(), m.queueWait.snapshot()
	s.GILWait, s.PythonTime = m.gilWait.snapshot(), m.pythonTime.snapshot()
	return s
}

type histogramSnapshot struct {
	Counts [len(durationBounds) + 1]uint64 `json:"c"`
	SumNs  int64                           `json:"s"`
}

// metricsSnapshot is a process's counters at one moment; workers send it
// to the master as JSON in their heartbeat.
type metricsSnapshot struct {
	Requests   [len(metricMethods)][len(statusClasses)]uint64 `json:"requests"`
	InFlight   int64                                          `json:"in_flight"`
	BytesIn    uint64                                         `json:"bytes_in"`
	BytesOut   uint64                                         `json:"bytes_out"`
	Latency    histogramSnapshot                              `json:"latency"`
	QueueWait  histogramSnapshot                              `json:"queue_wait"`
	GILWait    histogramSnapshot                              `json:"gil_wait"`
	PythonTime histogramSnapshot                              `json:"python"`
}

// add adds o's counters (and its in-flight gauge) to s.
func (s *metricsSnapshot) add(o *metricsSnapshot) {
	for i := range s.Requests {
		for j := range s.Requests[i] {
			s.Requests[i][j] += o.Requests[i][j]
		}
	}
	s.InFlight += o.InFlight
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	for _, p := range [...][2]*histogramSnapshot{{&s.Latency, &o.Latency}, {&s.QueueWait, &o.QueueWait}, {&s.GILWait, &o.GILWait}, {&s.PythonTime, &o.PythonTime}} {
		for i := range p[0].Counts {
			p[0].Counts[i] += p[1].Counts[i]
		}
		p[0].SumNs += p[1].SumNs
	}
}

// restartReasons are the values of gowsgi_worker_restarts_total's reason.
var restartReasons = [...]string{"max-requests", "memory", "lifetime", "timeout", "crash", "reload"}

var (
	descRequests = prometheus.NewDesc("gowsgi_requests_total",
		"HTTP requests answered, by method and status class.", []string{"method", "status"}, nil)
	descInFlight = prometheus.NewDesc("gowsgi_requests_in_flight",
		"Requests being handled now (waiting for or running Python, or writing).", nil, nil)
	descBytesIn = prometheus.NewDesc("gowsgi_request_body_bytes_total",
		"Request body bytes read.", nil, nil)
	descBytesOut = prometheus.NewDesc("gowsgi_response_body_bytes_total",
		"Response body bytes written.", nil, nil)
	descLatency = prometheus.NewDesc("gowsgi_request_duration_seconds",
		"Time from the request head read to the response written.", nil, nil)
	descQueueWait = prometheus.NewDesc("gowsgi_queue_wait_seconds",
		"Time a request waited for a free Python thread (--threads).", nil, nil)
	descGILWait = prometheus.NewDesc("gowsgi_gil_wait_seconds",
		"Time a request's Python thread waited to take the GIL, summed over the request.", nil, nil)
	descPython = prometheus.NewDesc("gowsgi_python_seconds",
		"Time a request's Python thread held the GIL (ran Python), summed over the request.", nil, nil)
	descRestarts = prometheus.NewDesc("gowsgi_worker_restarts_total",
		"Worker processes replaced by the master, by reason.", []string{"reason"}, nil)
	descWorkers = prometheus.NewDesc("gowsgi_workers",
		"Worker processes running (master mode).", nil, nil)
)

// metricsCollector exposes a snapshot as Prometheus metrics. snapshot
// gives the request counters; restarts and workers are nil outside a
// master.
type metricsCollector struct {
	snapshot func() *metricsSnapshot
	restarts func() [len(restartReasons)]uint64
	workers  func() int
}

func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descInFlight, descBytesIn, descBytesOut, descLatency, descQueueWait, descGILWait, descPython} {
		ch <- d
	}
	if c.restarts != nil {
		ch <- descRestarts
		ch <- descWorkers
	}
}

func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	for i, method := range metricMethods {
		for j, class := range statusClasses {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(s.Requests[i][j]), method, class)
		}
	}
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(s.InFlight))
	ch <- prometheus.MustNewConstMetric(descBytesIn, prometheus.CounterValue, float64(s.BytesIn))
	ch <- prometheus.MustNewConstMetric(descBytesOut, prometheus.CounterValue, float64(s.BytesOut))
	for _, h := range []struct {
		desc *prometheus.Desc
		s    *histogramSnapshot
	}{{descLatency, &s.Latency}, {descQueueWait, &s.QueueWait}, {descGILWait, &s.GILWait}, {descPython, &s.PythonTime}} {
		buckets := make(map[float64]uint64, len(durationBounds))
		var cumulative uint64
		for i, bound := range durationBounds {
			cumulative += h.s.Counts[i]
			buckets[bound] = cumulative
		}
		count := cumulative + h.s.Counts[len(durationBounds)]
		ch <- prometheus.MustNewConstHistogram(h.desc, count, time.Duration(h.s.SumNs).Seconds(), buckets)
	}
	if c.restarts != nil {
		r := c.restarts()
		for i, reason := range restartReasons {
			ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(r[i]), reason)
		}
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(c.workers()))
	}
}
