// Command barego is the bare Go net/http server that scripts/bench compares
// the WSGI servers with: the same paths and responses as the plain-WSGI
// routes of scripts/benchapp/app.py, with no Python at all. It is the
// ceiling of what an HTTP layer written in Go can do on each workload.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

const (
	chunkSize = 1024
	chunks    = 100
)

func main() {
	addr := flag.String("bind", "127.0.0.1:8081", "address to listen on")
	file := flag.String("file", "", "file served on /file (by sendfile(2))")
	flag.Parse()
	if *file == "" {
		log.Fatal("barego: -file is required")
	}
	mux := http.NewServeMux()
	mux.Handle("/hello", fixed([]byte("Hello, world"), "text/plain"))
	mux.Handle("/get10k", fixed(bytes.Repeat([]byte("x"), 10240), "text/plain"))
	mux.Handle("/1mib", fixed(bytes.Repeat([]byte("x"), 1<<20), "application/octet-stream"))
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/chunks", chunked)
	mux.HandleFunc("/file", func(w http.ResponseWriter, _ *http.Request) { sendFile(w, *file) })
	mux.HandleFunc("/upload", upload)
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.Header()["Content-Type"] = []string{"text/plain"}
		w.Header()["Content-Length"] = []string{"2"}
		_, _ = io.WriteString(w, "ok")
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}

// fixed answers every request with body.
func fixed(body []byte, contentType string) http.Handler {
	length := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{contentType}
		h["Content-Length"] = []string{length}
		_, _ = w.Write(body)
	})
}

// echo answers with the request body.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
		return
	}
	w.Header()["Content-Type"] = []string{"application/octet-stream"}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = w.Write(body)
}

// chunked sends 100 blocks of 1 KiB, each flushed, as a WSGI server must
// send each block an app's iterable yields.
func chunked(w http.ResponseWriter, _ *http.Request) {
	w.Header()["Content-Type"] = []string{"text/plain"}
	block := bytes.Repeat([]byte("x"), chunkSize)
	flusher, _ := w.(http.Flusher)
	for range chunks {
		if _, err := w.Write(block); err != nil {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// sendFile copies path to the client; with a Content-Length, net/http
// hands the *os.File to sendfile(2).
func sendFile(w http.ResponseWriter, path string) {
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, fmt.Sprintf("open %s: %v", path, err), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		http.Error(w, fmt.Sprintf("stat %s: %v", path, err), http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = []string{"application/octet-stream"}
	w.Header()["Content-Length"] = []string{strconv.FormatInt(info.Size(), 10)}
	_, _ = io.Copy(w, f)
}

// upload reads the whole request body and answers with its length.
func upload(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
		return
	}
	body := strconv.FormatInt(n, 10)
	w.Header()["Content-Type"] = []string{"text/plain"}
	w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
	_, _ = io.WriteString(w, body)
}
