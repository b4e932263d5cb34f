// soakload: the load generator of scripts/soak. It drives a bounded mix of
// requests at one gowsgi serving testdata/apps/errors.py on 127.0.0.1 and
// prints a JSON summary (requests done, results by kind) on stdout.
//
// Mix, per 100 requests: 45 GET /ok, 20 POST /input?mode=read-n with an
// 8 KiB body (the app reads it 7 bytes at a time and answers its length), 20 GET /stream-n?n=5, 10 GET /raise-before-start (a 500 is
// the expected answer), 5 client disconnects (GET /stream-forever on a raw
// connection, read a little, close). Each connection also sends GET
// /closed?reset=1 every 500 of its requests: errors.py appends every
// closed response to a module-level list (its close tracking), which would
// otherwise grow the workers' RSS by itself. Resets are not counted.
//
// Usage: go run ./scripts/soakload -addr 127.0.0.1:PORT -requests N [-duration D] [-conns C]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	addr     = flag.String("addr", "127.0.0.1:8000", "server HOST:PORT (127.0.0.1 only)")
	requests = flag.Int64("requests", 1_000_000, "requests to send in all")
	duration = flag.Duration("duration", 0, "stop early after this long (0: no cap)")
	conns    = flag.Int("conns", 16, "concurrent clients")
	progress = flag.Duration("progress", 10*time.Second, "progress line interval on stderr")
)

type kind int

const (
	kOK kind = iota
	kUpload
	kStream
	kError
	kDisconnect
	nKinds
)

var kindNames = [nKinds]string{"ok", "upload", "stream", "error500", "disconnect"}

func kindOf(i int64) kind {
	switch r := i % 100; {
	case r < 45:
		return kOK
	case r < 65:
		return kUpload
	case r < 85:
		return kStream
	case r < 95:
		return kError
	default:
		return kDisconnect
	}
}

var (
	done     [nKinds]atomic.Int64
	failures sync.Map // "kind: reason" -> *atomic.Int64
	nFailed  atomic.Int64
	upload   = bytes.Repeat([]byte("0123456789abcdef"), 512) // 8 KiB
	streamN  = "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
)

func fail(k kind, reason string) {
	key := kindNames[k] + ": " + reason
	v, _ := failures.LoadOrStore(key, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	nFailed.Add(1)
}

// classify shortens an error to a stable reason for counting.
func classify(err error) string {
	s := err.Error()
	for _, r := range []string{"connection reset", "broken pipe", "EOF", "refused", "timeout", "deadline"} {
		if strings.Contains(s, r) {
			return r
		}
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func main() {
	flag.Parse()
	if h, _, err := net.SplitHostPort(*addr); err != nil || (h != "127.0.0.1" && h != "localhost") {
		fmt.Fprintln(os.Stderr, "soakload: -addr must be 127.0.0.1:PORT")
		os.Exit(2)
	}
	tr := &http.Transport{
		MaxIdleConns:        *conns * 2,
		MaxIdleConnsPerHost: *conns * 2,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	base := "http://" + *addr

	var next atomic.Int64
	start := time.Now()
	var deadline time.Time
	if *duration > 0 {
		deadline = start.Add(*duration)
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(*progress)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := total()
				fmt.Fprintf(os.Stderr, "soakload: %s %d requests (%.0f/s), %d failed\n",
					time.Since(start).Round(time.Second), n, float64(n-last)/progress.Seconds(), nFailed.Load())
				last = n
			}
		}
	}()

	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := 0
			for {
				i := next.Add(1) - 1
				if i >= *requests || (!deadline.IsZero() && time.Now().After(deadline)) {
					return
				}
				k := kindOf(i)
				if one(client, base, k) {
					done[k].Add(1)
				}
				if mine++; mine%500 == 0 {
					if resp, err := client.Get(base + "/closed?reset=1"); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)

	out := map[string]any{
		"requests":        total() + nFailed.Load(),
		"succeeded":       total(),
		"failed":          nFailed.Load(),
		"seconds":         elapsed.Seconds(),
		"rate":            float64(total()+nFailed.Load()) / elapsed.Seconds(),
		"by_kind":         map[string]int64{},
		"failures":        map[string]int64{},
		"conns":           *conns,
		"duration_capped": !deadline.IsZero() && next.Load() < *requests,
	}
	for k := kOK; k < nKinds; k++ {
		out["by_kind"].(map[string]int64)[kindNames[k]] = done[k].Load()
	}
	failures.Range(func(key, v any) bool {
		out["failures"].(map[string]int64)[key.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	enc.Encode(out)
}

func total() int64 {
	var n int64
	for k := kOK; k < nKinds; k++ {
		n += done[k].Load()
	}
	return n
}

// one sends one request of kind k; it reports success (the expected status
// and body), else counts the failure.
func one(client *http.Client, base string, k kind) bool {
	if k == kDisconnect {
		return disconnect(k)
	}
	var (
		resp *http.Response
		err  error
	)
	switch k {
	case kOK:
		resp, err = client.Get(base + "/ok")
	case kUpload:
		resp, err = client.Post(base+"/input?mode=read-n", "application/octet-stream", bytes.NewReader(upload))
	case kStream:
		resp, err = client.Get(base + "/stream-n?n=5")
	case kError:
		resp, err = client.Get(base + "/raise-before-start")
	}
	if err != nil {
		fail(k, classify(err))
		return false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fail(k, "body: "+classify(err))
		return false
	}
	want := 200
	if k == kError {
		want = 500
	}
	if resp.StatusCode != want {
		fail(k, fmt.Sprintf("status %d", resp.StatusCode))
		return false
	}
	switch k {
	case kOK:
		if string(body) != "ok" {
			fail(k, "body mismatch")
			return false
		}
	case kUpload:
		if !bytes.Contains(body, []byte(`"joined_len": 8192`)) {
			fail(k, "joined_len is not 8192")
			return false
		}
	case kStream:
		if string(body) != streamN {
			fail(k, "body mismatch")
			return false
		}
	}
	return true
}

// disconnect opens /stream-forever on its own connection, reads the head
// and a little of the body, and closes the connection mid-stream.
func disconnect(k kind) bool {
	c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
	if err != nil {
		fail(k, classify(err))
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET /stream-forever HTTP/1.1\r\nHost: soak\r\n\r\n"); err != nil {
		fail(k, classify(err))
		return false
	}
	buf := make([]byte, 16*1024)
	got := 0
	for got < len(buf) {
		n, err := c.Read(buf[got:])
		got += n
		if err != nil {
			fail(k, "read: "+classify(err))
			return false
		}
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		fail(k, "status line "+strings.SplitN(string(buf[:min(got, 40)]), "\r\n", 2)[0])
		return false
	}
	// Close with unread data pending: the kernel sends RST, the server
	// sees a broken stream on its next write.
	return true
}
