package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"

	"github.com/gowsgi/gowsgi/environ"
	"github.com/gowsgi/gowsgi/pybridge"
)

// Finding is one problem `gowsgi check` found.
type Finding struct {
	Request string `json:"-"`     // the synthetic request, e.g. "OPTIONS *"
	Check   string `json:"check"` // what was checked, e.g. "hop-by-hop header"
	Message string `json:"message"`
	// Where it came from: the app's file:line, or "gowsgi server".
	Where string `json:"where"`
}

func (f Finding) String() string {
	where := f.Where
	if where == "" {
		where = "unknown"
	}
	return fmt.Sprintf("%s: %s: %s (at %s)", f.Request, f.Check, f.Message, where)
}

// syntheticRequest is one request `gowsgi check` sends.
type syntheticRequest struct {
	name    string
	request func() *http.Request
}

const checkHost = "localhost"

// syntheticRequests: the shapes of request every WSGI app meets, and the
// ones the server treats specially (HEAD, asterisk-form, chunked bodies).
var syntheticRequests = []syntheticRequest{
	{"GET /", func() *http.Request { return httptest.NewRequest(http.MethodGet, "http://"+checkHost+"/", nil) }},
	{"HEAD /", func() *http.Request { return httptest.NewRequest(http.MethodHead, "http://"+checkHost+"/", nil) }},
	{"POST / (form body)", func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://"+checkHost+"/", strings.NewReader("name=gowsgi&check=1"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}},
	{"OPTIONS *", func() *http.Request {
		r := httptest.NewRequest(http.MethodOptions, "*", nil)
		r.Host = checkHost
		return r
	}},
	{"POST / (chunked body)", func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "http://"+checkHost+"/", io.MultiReader(strings.NewReader("chunk one,"), strings.NewReader("chunk two")))
		r.Header.Set("Content-Type", "application/octet-stream")
		r.ContentLength = -1
		r.TransferEncoding = []string{"chunked"}
		return r
	}},
}

// Check imports cfg.App as Run would, wrapped in wsgiref.validate and
// gowsgi's own checks, sends it the synthetic requests through the real
// handler in this process (no socket) and returns what was found. A
// *pybridge.LoadError means the app could not be imported.
func Check(cfg Config) ([]Finding, error) {
	cfg.Threads = 1 // one request at a time: findings belong to one request
	program, err := pythonProgram(cfg.Virtualenv)
	if err != nil {
		return nil, &ConfigError{err}
	}
	if cfg.Chdir != "" {
		if err := os.Chdir(cfg.Chdir); err != nil {
			return nil, &ConfigError{fmt.Errorf("--chdir: %w", err)}
		}
	}
	envConfig, err := cfg.environConfig()
	if err != nil {
		return nil, &ConfigError{err}
	}
	// The error log of each request is kept apart: what the server itself
	// logged is a finding when the app's checks found nothing.
	var serverLog bytes.Buffer
	logger := NewLogger(&serverLog, LevelWarning)
	ids, err := newRequestIDs(cfg.RequestIDHeader)
	if err != nil {
		return nil, &ConfigError{err}
	}
	interp, _, err := pybridge.Start(pybridge.Config{
		Program:     program,
		PythonPath:  cfg.PythonPath,
		App:         cfg.App,
		KnownKeys:   environ.KnownKeys(),
		Multithread: false,
		ErrorLog:    func(msg string) { fmt.Fprintln(os.Stderr, msg) },
		Check:       true,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = interp.Stop() }()
	h := &handler{
		python:       newPythonSlots(1, false),
		envConfig:    envConfig,
		log:          logger,
		limits:       cfg.requestLimits(),
		queueTimeout: cfg.QueueTimeout,
		maxQueued:    int64(cfg.MaxQueued),
		ids:          ids,
	}
	var findings []Finding
	for _, sr := range syntheticRequests {
		serverLog.Reset()
		serveRecorded(h, sr.request())
		taken, err := takeFindings()
		if err != nil {
			return findings, err
		}
		found := taken.Findings
		if len(found) == 0 {
			// The app passed the checks but the server refused its
			// response: point at the app's start_response.
			if msg := firstError(serverLog.String()); msg != "" {
				where := taken.StartWhere
				if where == "" {
					where = "gowsgi server"
				}
				found = append(found, Finding{Check: "server", Message: msg, Where: where})
			}
		}
		for _, f := range found {
			f.Request = sr.name
			findings = append(findings, f)
		}
	}
	return findings, nil
}

// serveRecorded runs r through h into a recorder. A handler that cuts a
// response short panics with http.ErrAbortHandler, as net/http expects.
func serveRecorded(h *handler, r *http.Request) {
	r.RemoteAddr = "127.0.0.1:40000"
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			panic(v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), r)
}

// takeFindings collects what the Python checks found for the request that
// just ran, on a Python thread of this goroutine's OS thread.
func takeFindings() (checkResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var taken checkResult
	t, err := pybridge.CurrentThread()
	if err != nil {
		return taken, err
	}
	text, err := t.CheckFindings()
	if err != nil {
		return taken, err
	}
	if err := json.Unmarshal([]byte(text), &taken); err != nil {
		return taken, fmt.Errorf("decode the check findings: %w", err)
	}
	return taken, nil
}

// checkResult is what check.py found in one request.
type checkResult struct {
	Findings []Finding `json:"findings"`
	// StartWhere is where the app called start_response, if it did.
	StartWhere string `json:"start_where"`
}

// firstError is the first line of the first ERROR record in a log.
func firstError(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if _, msg, ok := strings.Cut(line, "] [ERROR] "); ok {
			return msg
		}
	}
	return ""
}

// CheckRequests is how many synthetic requests Check sends.
func CheckRequests() int { return len(syntheticRequests) }
