// Command barehello is the bare Go net/http server that scripts/bench-hello
// compares gowsgi with: the same 12-byte response and headers as
// testdata/apps/hello.py, with no Python at all. It is the ceiling of what
// gowsgi's HTTP layer can do.
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("bind", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	body := []byte("Hello, world")
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"12"}
		_, _ = w.Write(body)
	})))
}
