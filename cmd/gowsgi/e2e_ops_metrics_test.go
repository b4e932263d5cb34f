package main

// Operations, metrics and probes (issue 6): /metrics parses with the
// Prometheus text parser, its counters move by exactly the requests sent
// (one process, and summed by the master over its workers), the GIL wait
// is clearly non-zero under CPU-bound Python threads and near zero when
// requests come one at a time, and /healthz and /readyz answer as
// documented.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsLine = regexp.MustCompile(`Metrics at: http://(\S+)/metrics`)

// opsURL waits for the server's "Metrics at:" line and returns the base
// URL of its operations port.
func opsURL(t *testing.T, s *testServer) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := metricsLine.FindStringSubmatch(s.stderr.String()); m != nil {
			return "http://" + m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no Metrics at: line:\n%s", s.stderr.String())
	return ""
}

// metricFamilies scrapes /metrics and parses it with expfmt's text parser.
type metricFamilies map[string]*dto.MetricFamily

func scrape(t *testing.T, base string) metricFamilies {
	t.Helper()
	resp, err := testClient.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metric finds the sample of name whose labels include want (pairs).
func (f metricFamilies) metric(t *testing.T, name string, want ...string) *dto.Metric {
	t.Helper()
	fam, ok := f[name]
	if !ok {
		t.Fatalf("no metric family %s", name)
	}
next:
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no %s sample with labels %v", name, want)
	return nil
}

func (f metricFamilies) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return f.metric(t, name, labels...).GetCounter().GetValue()
}

func (f metricFamilies) histogram(t *testing.T, name string) (count uint64, sum float64) {
	t.Helper()
	h := f.metric(t, name).GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum()
}

// requestCounts is what the test reads back of the request counters.
type requestCounts struct {
	get2xx, post2xx, get4xx, latency, gil float64
	bytesIn, bytesOut, inFlight           float64
}

func readCounts(t *testing.T, f metricFamilies) requestCounts {
	t.Helper()
	lat, _ := f.histogram(t, "gowsgi_request_duration_seconds")
	gil, _ := f.histogram(t, "gowsgi_gil_wait_seconds")
	return requestCounts{
		get2xx:   f.counter(t, "gowsgi_requests_total", "method", "GET", "status", "2xx"),
		post2xx:  f.counter(t, "gowsgi_requests_total", "method", "POST", "status", "2xx"),
		get4xx:   f.counter(t, "gowsgi_requests_total", "method", "GET", "status", "4xx"),
		latency:  float64(lat),
		gil:      float64(gil),
		bytesIn:  f.counter(t, "gowsgi_request_body_bytes_total"),
		bytesOut: f.counter(t, "gowsgi_response_body_bytes_total"),
		inFlight: f.metric(t, "gowsgi_requests_in_flight").GetGauge().GetValue(),
	}
}

func (c requestCounts) minus(o requestCounts) requestCounts {
	return requestCounts{c.get2xx - o.get2xx, c.post2xx - o.post2xx, c.get4xx - o.get4xx,
		c.latency - o.latency, c.gil - o.gil, c.bytesIn - o.bytesIn, c.bytesOut - o.bytesOut, c.inFlight}
}

// sendKnownLoad sends 7 GET / (2 bytes each), 3 POST / with 100-byte
// bodies, 2 GETs of a missing path (404, 9 bytes) and one 4 KiB GET, and
// returns the counter moves they must cause.
func sendKnownLoad(t *testing.T, s *testServer) requestCounts {
	for i := 0; i < 7; i++ {
		resp, body := s.get(t, "/")
		expectStatus(t, resp, body, 200)
	}
	for i := 0; i < 3; i++ {
		resp, body := s.do(t, http.MethodPost, "/", strings.NewReader(strings.Repeat("p", 100)))
		expectStatus(t, resp, body, 200)
	}
	for i := 0; i < 2; i++ {
		resp, body := s.get(t, "/missing")
		expectStatus(t, resp, body, 404)
	}
	resp, body := s.get(t, "/big?kb=4")
	expectStatus(t, resp, body, 200)
	return requestCounts{get2xx: 8, post2xx: 3, get4xx: 2, latency: 13, gil: 13,
		bytesIn: 300, bytesOut: 7*2 + 3*2 + 2*9 + 4096}
}

func TestOpsMetricsCountExactly(t *testing.T) {
	s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
		args: []string{"--metrics-bind", "127.0.0.1:0"}})
	base := opsURL(t, s)
	before := readCounts(t, scrape(t, base))
	want := sendKnownLoad(t, s)
	got := readCounts(t, scrape(t, base)).minus(before)
	if got != want {
		t.Errorf("counter moves\n got %+v\nwant %+v", got, want)
	}
	// Scraping twice more changes nothing: the port is not the app's.
	again := readCounts(t, scrape(t, base)).minus(before)
	if again != want {
		t.Errorf("after more scrapes\n got %+v\nwant %+v", again, want)
	}
}

// With workers the master serves /metrics and sums what the workers send
// in their heartbeats (within a beat), and counts restarts by reason.
func TestOpsMetricsSummedByTheMaster(t *testing.T) {
	ws := startWorkers(t, "--workers", "2", "--metrics-bind", "127.0.0.1:0")
	ws.waitReady(t, 2)
	base := opsURL(t, ws.testServer)
	waitReady(t, base)
	// The heartbeats lag by up to a beat (1 s): wait until the requests
	// waitReady made have all been reported.
	before := readCounts(t, scrape(t, base))
	for {
		time.Sleep(1200 * time.Millisecond)
		now := readCounts(t, scrape(t, base))
		if now == before {
			break
		}
		before = now
	}
	want := sendKnownLoad(t, ws.testServer)
	var got requestCounts
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = readCounts(t, scrape(t, base)).minus(before)
		if got == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != want {
		t.Fatalf("summed counter moves\n got %+v\nwant %+v", got, want)
	}
	time.Sleep(1500 * time.Millisecond) // more beats: still exact
	if got := readCounts(t, scrape(t, base)).minus(before); got != want {
		t.Errorf("after more heartbeats\n got %+v\nwant %+v", got, want)
	}
	f := scrape(t, base)
	if n := f.metric(t, "gowsgi_workers").GetGauge().GetValue(); n != 2 {
		t.Errorf("gowsgi_workers = %v, want 2", n)
	}
	if n := f.counter(t, "gowsgi_worker_restarts_total", "reason", "crash"); n != 0 {
		t.Errorf("crash restarts before any crash: %v", n)
	}
	// A worker that dies mid-request is a "crash" restart; what it had
	// counted stays in the totals.
	_, _ = freshClient().Get(ws.url + "/exit")
	deadline = time.Now().Add(15 * time.Second)
	for {
		f = scrape(t, base)
		if f.counter(t, "gowsgi_worker_restarts_total", "reason", "crash") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("crash restart not counted:\n%s", ws.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after := readCounts(t, f).minus(before); after.get2xx < want.get2xx || after.bytesOut < want.bytesOut {
		t.Errorf("counters went back after a worker died: %+v, had %+v", after, want)
	}
}

// GIL wait is measured where gowsgi takes the GIL for a request (the
// start of each request call, and after each callback that released it).
// A short request arriving while other Python threads spin must wait
// there for the running thread to give the GIL up (the interpreter's
// 5 ms switch interval); with nothing else running it takes it at once.
func TestOpsGILWaitUnderCPULoad(t *testing.T) {
	s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
		args: []string{"--metrics-bind", "127.0.0.1:0", "--threads", "4"}})
	base := opsURL(t, s)
	gil := func() (uint64, float64) { return scrape(t, base).histogram(t, "gowsgi_gil_wait_seconds") }
	python := func() float64 { _, v := scrape(t, base).histogram(t, "gowsgi_python_seconds"); return v }
	const short = 20

	// Idle: one request at a time, nobody else wants the GIL.
	n0, idle0 := gil()
	for i := 0; i < short; i++ {
		s.get(t, "/")
	}
	n1, idle1 := gil()
	idleEach := (idle1 - idle0) / float64(n1-n0)

	// CPU-bound: two threads spin in Python for 1.5 s while short
	// requests come one at a time on the other two.
	py0 := python()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := freshClient().Get(s.url + "/spin?s=1.5")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // both spin now
	_, busy0 := gil()
	for i := 0; i < short; i++ {
		s.get(t, "/")
	}
	n2, busy1 := gil()
	wg.Wait()
	busyEach := (busy1 - busy0) / short
	t.Logf("GIL wait per short request: idle %.1f µs, beside 2 spinning threads %.1f µs; Python time of the spinners %.2f s",
		idleEach*1e6, busyEach*1e6, python()-py0)
	if n1-n0 != short || idleEach > 0.0005 {
		t.Errorf("idle: %d requests waited %.6f s each for the GIL, want near zero", n1-n0, idleEach)
	}
	if n2-n1 != short || busyEach < 0.001 {
		t.Errorf("beside CPU-bound threads: %d requests waited %.6f s each for the GIL, want over 1 ms", n2-n1, busyEach)
	}
	if busyEach < 20*idleEach {
		t.Errorf("the GIL wait under load (%.6f s) is not far above idle (%.6f s)", busyEach, idleEach)
	}
	if py := python() - py0; py < 2.5 {
		t.Errorf("Python time of 2 × 1.5 s of spinning threads: %.3f s", py)
	}
}

// waitReady waits until /readyz answers 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := probe(t, base+"/readyz"); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := testClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOpsProbes(t *testing.T) {
	s := startServer(t, serverOptions{app: "workers_app:application", dir: "testdata/apps",
		args: []string{"--metrics-bind", "127.0.0.1:0", "--threads", "1", "--ready-timeout", "50ms"}})
	base := opsURL(t, s)
	if code, body := probe(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: %d %q", code, body)
	}
	// The listeners (and the metrics port) open before the app is
	// imported, and /readyz says 503 until it is: wait for the import.
	waitReady(t, base)
	// The only Python thread sleeps: not ready, but alive.
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := freshClient().Get(s.url + "/sleep?s=1.5"); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(300 * time.Millisecond)
	if code, body := probe(t, base+"/readyz"); code != 503 || !strings.Contains(body, "no Python thread came free within 50ms") {
		t.Errorf("/readyz with the one thread busy: %d %q, want 503", code, body)
	}
	if code, _ := probe(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with the one thread busy: %d, want 200", code)
	}
	<-done
	if code, body := probe(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after the request: %d %q", code, body)
	}
	if code, _ := probe(t, base+"/nothing"); code != 404 {
		t.Errorf("unknown ops path: %d, want 404", code)
	}
	if code, _ := probe(t, fmt.Sprintf("%s/readyz", s.url)); code != 404 {
		t.Errorf("the app's port must not serve the probes (workers_app answers 404): %d", code)
	}
}

// Workers replaced by --max-requests hand in their final counts as they
// stop: the master's sums stay exact across replacements, and each
// replacement is counted with its reason.
func TestOpsMetricsExactAcrossReplacements(t *testing.T) {
	ws := startWorkers(t, "--workers", "1", "--max-requests", "4", "--metrics-bind", "127.0.0.1:0")
	ws.waitReady(t, 1)
	base := opsURL(t, ws.testServer)
	waitReady(t, base)
	before := scrape(t, base)
	for {
		time.Sleep(1200 * time.Millisecond) // until the waitReady requests are in
		now := scrape(t, base)
		if readCounts(t, now) == readCounts(t, before) {
			break
		}
		before = now
	}
	restarts0 := before.counter(t, "gowsgi_worker_restarts_total", "reason", "max-requests")
	// 10 requests, 4 a worker: at least one replacement while they run.
	get0 := before.counter(t, "gowsgi_requests_total", "method", "GET", "status", "2xx")
	const sent = 10
	c := freshClient()
	for i := 0; i < sent; i++ {
		if status, _, _, err := fetch(c, ws.url+"/"); err != nil || status != 200 {
			t.Fatalf("GET / #%d: %d %v", i, status, err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		f := scrape(t, base)
		got := f.counter(t, "gowsgi_requests_total", "method", "GET", "status", "2xx") - get0
		restarts := f.counter(t, "gowsgi_worker_restarts_total", "reason", "max-requests") - restarts0
		if got == sent && restarts >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d requests with --max-requests 4: counted %v GETs and %v max-requests restarts\n%s", sent, got, restarts, ws.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	f := scrape(t, base)
	if got := f.counter(t, "gowsgi_requests_total", "method", "GET", "status", "2xx") - get0; got != sent {
		t.Errorf("GETs counted %v, want exactly %d", got, sent)
	}
	logged := strings.Count(ws.stderr.String(), "(--max-requests)")
	if got := f.counter(t, "gowsgi_worker_restarts_total", "reason", "max-requests"); got != float64(logged) {
		t.Errorf("max-requests restarts counted %v, logged %d", got, logged)
	}
}

// A reload is counted as it retires the old workers: one whose new code
// cannot load replaces nobody and counts nothing.
func TestOpsMetricsCountOnlyReloadsThatHappen(t *testing.T) {
	ws := startWorkers(t, "--workers", "2", "--metrics-bind", "127.0.0.1:0")
	ws.waitReady(t, 2)
	base := opsURL(t, ws.testServer)
	waitReady(t, base)
	reloads := func() float64 {
		return scrape(t, base).counter(t, "gowsgi_worker_restarts_total", "reason", "reload")
	}
	f, err := os.OpenFile(filepath.Join(ws.dir, "workers_app.py"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "\ndef broken(:\n    pass")
	f.Close()
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ws.waitLog(t, "Reload failed")
	if n := reloads(); n != 0 {
		t.Errorf("a failed reload counted %v reload restarts, want 0", n)
	}
	writeWorkersApp(t, ws.dir, "2")
	if err := ws.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ws.waitLog(t, "Reload complete")
	if n := reloads(); n != 2 {
		t.Errorf("a reload of 2 workers counted %v reload restarts, want 2", n)
	}
}
