// Command dlclient downloads one URL over -c keep-alive connections for -d,
// each connection read by its own goroutine in 64 KiB reads, and prints
// requests/s, GB/s and latency quantiles.
//
// It exists to check large-download numbers without wrk's read loop: wrk
// keeps reading one connection in 8 KiB reads for as long as that
// connection stays readable, so a server that feeds a connection faster
// than wrk drains it (sendfile on loopback) gets that connection served
// to the end while the others wait, and the p99 of whole downloads is set
// by wrk (docs/bench/budget.md, "100 MB downloads").
//
//	go run ./scripts/dlclient -url http://127.0.0.1:8000/file -c 4 -d 6s
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to download")
	conns := flag.Int("c", 4, "connections")
	duration := flag.Duration("d", 5*time.Second, "how long to keep starting downloads")
	flag.Parse()
	if *url == "" || *conns < 1 {
		fmt.Fprintln(os.Stderr, "dlclient: -url is required and -c must be at least 1")
		os.Exit(2)
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		total     int64
		firstErr  error
	)
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			buf := make([]byte, 64<<10)
			for time.Now().Before(deadline) {
				began := time.Now()
				n, err := download(client, *url, buf)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				latencies = append(latencies, time.Since(began))
				total += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "dlclient:", firstErr)
		os.Exit(1)
	}
	if len(latencies) == 0 {
		fmt.Fprintln(os.Stderr, "dlclient: no download finished")
		os.Exit(1)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	q := func(p float64) time.Duration {
		return latencies[int(p*float64(len(latencies)-1))].Round(time.Millisecond)
	}
	secs := duration.Seconds()
	fmt.Printf("%d downloads, %.1f req/s, %.2f GB/s, p50 %v p90 %v p99 %v max %v\n",
		len(latencies), float64(len(latencies))/secs, float64(total)/secs/1e9,
		q(.5), q(.9), q(.99), latencies[len(latencies)-1].Round(time.Millisecond))
}

// download fetches url whole, reading into buf, and returns its size.
func download(client *http.Client, url string, buf []byte) (int64, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	// Both sides wrapped, so that neither io.Discard.ReadFrom nor a
	// WriterTo swaps buf for a buffer of its own size.
	n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{resp.Body}, buf)
	if err != nil {
		return n, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return n, nil
}
