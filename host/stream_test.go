package host

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gowsgi/gowsgi/pybridge"
)

// gatedWriter is a ResponseWriter whose writes can be held (gate) or
// made to fail, and that records each Write and flush.
type gatedWriter struct {
	mu      sync.Mutex
	header  http.Header
	body    bytes.Buffer
	writes  int
	flushes int
	gate    chan struct{} // when set, each Write waits for a token
	failing error         // when set, Write fails with it
	entered chan struct{} // when set, gets a token as a Write begins
}

func (w *gatedWriter) Header() http.Header { return w.header }
func (w *gatedWriter) WriteHeader(int)     {}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if w.entered != nil {
		w.entered <- struct{}{}
	}
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing != nil {
		return 0, w.failing
	}
	w.writes++
	return w.body.Write(p)
}

func (w *gatedWriter) FlushError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	return w.failing
}

func (w *gatedWriter) snapshot() (body string, writes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.String(), w.writes
}

// streamExchange is an exchange for a 200 response of unknown length.
func streamExchange(w http.ResponseWriter) *exchange {
	x := new(exchange)
	x.reset(w, httptest.NewRequest("GET", "/", nil), NewLogger(io.Discard, LevelCritical), ioTimeouts{})
	x.head = responseHead{code: 200, contentLength: -1}
	return x
}

// everyChunkQuick makes every chunk after the first count as produced
// back to back, however slowly the test runs (-race, a busy machine).
func everyChunkQuick(t *testing.T) {
	old := streamGap
	streamGap = time.Hour
	t.Cleanup(func() { streamGap = old })
}

func chunk(i, size int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, size) }

func TestStreamCoalescesChunksThatComeWhileOneIsSent(t *testing.T) {
	everyChunkQuick(t)
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	var want bytes.Buffer
	// The first chunk goes out at once, from the caller.
	if err := x.Stream(chunk(0, 100)); err != nil {
		t.Fatal(err)
	}
	want.Write(chunk(0, 100))
	if body, _ := w.snapshot(); body != want.String() {
		t.Fatalf("the first chunk was not sent before Stream returned")
	}
	// The next ones come back to back; the sender's first write is held
	// until all are queued, so the rest must leave in one more write.
	w.gate, w.entered = make(chan struct{}), make(chan struct{}, 1)
	for i := 1; i < 50; i++ {
		if err := x.Stream(chunk(i, 100)); err != nil {
			t.Fatal(err)
		}
		want.Write(chunk(i, 100))
	}
	<-w.entered
	close(w.gate)
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	body, writes := w.snapshot()
	if body != want.String() {
		t.Fatalf("body differs: %d bytes, want %d", len(body), want.Len())
	}
	if writes > 3 {
		t.Errorf("50 chunks took %d writes; chunks queued meanwhile should leave together", writes)
	}
	if x.written != int64(want.Len()) {
		t.Errorf("written %d, want %d", x.written, want.Len())
	}
}

func TestStreamSendsAChunkAfterAPauseAtOnce(t *testing.T) {
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	sent := ""
	for i := 0; i < 3; i++ {
		time.Sleep(2 * streamGap)
		if err := x.Stream(chunk(i, 10)); err != nil {
			t.Fatal(err)
		}
		sent += string(chunk(i, 10))
		if body, _ := w.snapshot(); body != sent {
			t.Fatalf("chunk %d after a pause was not sent before Stream returned: have %q", i, body)
		}
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamWaitsForRoomWhenTheClientIsSlow(t *testing.T) {
	everyChunkQuick(t)
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	if err := x.Stream(chunk(0, 10)); err != nil {
		t.Fatal(err)
	}
	w.gate = make(chan struct{})
	produced := make(chan int, 1)
	const size = 4 << 10
	// At most streamAhead bytes wait, besides the write in flight.
	total := 4 * streamAhead / size
	go func() {
		for i := 0; i < total; i++ {
			if err := x.Stream(chunk(i, size)); err != nil {
				produced <- -1
				return
			}
		}
		produced <- total
	}()
	select {
	case n := <-produced:
		t.Fatalf("%d chunks (%d bytes) were accepted while nothing could be sent: no backpressure", n, n*size)
	case <-time.After(100 * time.Millisecond):
	}
	close(w.gate) // the client reads again
	if n := <-produced; n != total {
		t.Fatalf("the producer stopped with %d", n)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if body, _ := w.snapshot(); len(body) != 10+total*size {
		t.Fatalf("sent %d bytes, want %d", len(body), 10+total*size)
	}
}

func TestStreamReportsAClientThatLeft(t *testing.T) {
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	if err := x.Stream(chunk(0, 10)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.failing = errors.New("connection reset by peer")
	w.mu.Unlock()
	var err error
	for i := 1; i < 1000 && err == nil; i++ {
		err = x.Stream(chunk(i, 10))
		time.Sleep(time.Microsecond)
	}
	if !errors.Is(err, errClientGone) {
		t.Fatalf("the app was told %v, want errClientGone", err)
	}
	if err := x.endStream(); !errors.Is(err, errClientGone) {
		t.Fatalf("endStream: %v, want errClientGone", err)
	}
}

func TestStreamKeepsToTheContentLength(t *testing.T) {
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	x.head.contentLength = 25
	var err error
	for i := 0; i < 3 && err == nil; i++ {
		err = x.Stream(chunk(i, 10))
	}
	if !errors.Is(err, pybridge.ErrBodyOverflow) {
		t.Fatalf("the third chunk: %v, want pybridge.ErrBodyOverflow", err)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if body, _ := w.snapshot(); body != "aaaaaaaaaabbbbbbbbbbccccc" {
		t.Fatalf("sent %q", body)
	}
}

func TestWriteAfterStreamWaitsForTheSender(t *testing.T) {
	everyChunkQuick(t)
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	if err := x.Stream([]byte("first,")); err != nil {
		t.Fatal(err)
	}
	w.gate, w.entered = make(chan struct{}, 1), make(chan struct{}, 2)
	if err := x.Stream([]byte("queued,")); err != nil {
		t.Fatal(err)
	}
	<-w.entered // the sender is in its write
	done := make(chan error, 1)
	go func() { done <- x.Write([]byte("direct")) }()
	select {
	case err := <-done:
		t.Fatalf("Write returned (%v) while the sender was still writing", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.gate <- struct{}{} // the sender's write
	w.gate <- struct{}{} // then Write's own
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if body, _ := w.snapshot(); body != "first,queued,direct" {
		t.Fatalf("sent %q", body)
	}
}

func TestStreamSendsALargeChunkDirectly(t *testing.T) {
	everyChunkQuick(t)
	w := &gatedWriter{header: http.Header{}}
	x := streamExchange(w)
	if err := x.Stream(chunk(0, 10)); err != nil {
		t.Fatal(err)
	}
	big := chunk(1, streamAhead)
	if err := x.Stream(big); err != nil {
		t.Fatal(err)
	}
	if body, _ := w.snapshot(); len(body) != 10+len(big) {
		t.Fatalf("a chunk of %d bytes was queued, not sent: %d bytes out", len(big), len(body))
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
}

// panickyWriter panics on its second Write, as a bug in a writer would.
type panickyWriter struct {
	gatedWriter
	n int
}

func (w *panickyWriter) Write(p []byte) (int, error) {
	if w.n++; w.n == 2 {
		panic("writer bug")
	}
	return w.gatedWriter.Write(p)
}

func TestStreamSenderPanicCutsTheResponse(t *testing.T) {
	everyChunkQuick(t)
	w := &panickyWriter{gatedWriter: gatedWriter{header: http.Header{}}}
	x := streamExchange(w)
	if err := x.Stream(chunk(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := x.Stream(chunk(1, 10)); err != nil { // queued; its write panics
		t.Fatal(err)
	}
	if err := x.endStream(); !errors.Is(err, errClientGone) {
		t.Fatalf("endStream after a panicking write: %v, want errClientGone", err)
	}
}

// wholeBodyExchange is an exchange for a 200 response whose declared
// Content-Length is n.
func wholeBodyExchange(w http.ResponseWriter, n int) *exchange {
	x := streamExchange(w)
	x.head.contentLength = int64(n)
	return x
}

// setHoldLimit sets holdLimit for one test. time.Hour keeps the timer
// from sending a held body however slowly the test runs (-race, a busy
// machine).
func setHoldLimit(t *testing.T, d time.Duration) {
	old := holdLimit
	holdLimit = d
	t.Cleanup(func() { holdLimit = old })
}

func TestStreamHoldsAWholeBodyForTheHandler(t *testing.T) {
	setHoldLimit(t, time.Hour)
	w := &gatedWriter{header: http.Header{}}
	body := chunk(0, 5000)
	x := wholeBodyExchange(w, len(body))
	if err := x.Stream(body); err != nil {
		t.Fatal(err)
	}
	if _, writes := w.snapshot(); writes != 0 {
		t.Fatalf("a whole body was written by the app's thread (%d writes); it should wait for the handler", writes)
	}
	body[0] = '!' // the app's buffer is its own again once Stream returns
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	got, writes := w.snapshot()
	if got != string(chunk(0, 5000)) || writes != 1 {
		t.Fatalf("after endStream: %d bytes in %d writes, want the 5000 bytes as given, in one", len(got), writes)
	}
	if x.written != 5000 || !x.complete() {
		t.Errorf("written %d, complete %v", x.written, x.complete())
	}
}

// A long request's whole body is written by the app's thread at once:
// held, it would wait for the handler, which on one cpu runs at the next
// tick (holdUnder).
func TestStreamWritesALongRequestsBodyAtOnce(t *testing.T) {
	setHoldLimit(t, time.Hour)
	w := &gatedWriter{header: http.Header{}}
	body := chunk(0, 5000)
	x := wholeBodyExchange(w, len(body))
	x.pythonStart = time.Now().Add(-holdUnder)
	if err := x.Stream(body); err != nil {
		t.Fatal(err)
	}
	if got, writes := w.snapshot(); got != string(body) || writes != 1 {
		t.Fatalf("%d bytes in %d writes before endStream, want the whole body in one", len(got), writes)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if got, writes := w.snapshot(); got != string(body) || writes != 1 {
		t.Errorf("after endStream: %d bytes in %d writes", len(got), writes)
	}

	// A quick one is held as before. (holdUnder is raised so that a slow
	// test machine cannot make this request a long one.)
	old := holdUnder
	holdUnder = time.Hour
	t.Cleanup(func() { holdUnder = old })
	w = &gatedWriter{header: http.Header{}}
	x = wholeBodyExchange(w, len(body))
	x.pythonStart = time.Now()
	if err := x.Stream(body); err != nil {
		t.Fatal(err)
	}
	if _, writes := w.snapshot(); writes != 0 {
		t.Fatalf("a quick request's body was written at once (%d writes)", writes)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamSendsAHeldBodyWhenTheAppIsSlowToFinish(t *testing.T) {
	setHoldLimit(t, 5*time.Millisecond)
	w := &gatedWriter{header: http.Header{}}
	x := wholeBodyExchange(w, 100)
	if err := x.Stream(chunk(1, 100)); err != nil {
		t.Fatal(err)
	}
	// The app is still busy (a slow close()): nothing settles the
	// stream, and the hold timer must send the body on its own.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := w.snapshot(); got == string(chunk(1, 100)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the held body was not sent within 5 s of a %s hold limit", holdLimit)
		}
		time.Sleep(time.Millisecond)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if got, writes := w.snapshot(); got != string(chunk(1, 100)) || writes != 1 {
		t.Errorf("%q in %d writes, want the body once", got, writes)
	}
}

func TestStreamWritesAtOnceWhatItDoesNotHold(t *testing.T) {
	for _, c := range []struct {
		name          string
		contentLength int
		size          int
	}{
		{"part of the body", 200, 100},
		{"unknown length", -1, 100},
		{"a body over maxHeld", maxHeld + 1, maxHeld + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := &gatedWriter{header: http.Header{}}
			x := wholeBodyExchange(w, c.contentLength)
			if err := x.Stream(chunk(2, c.size)); err != nil {
				t.Fatal(err)
			}
			if got, _ := w.snapshot(); len(got) != c.size {
				t.Fatalf("%d bytes written before Stream returned, want %d", len(got), c.size)
			}
			if err := x.endStream(); err != nil && !errors.Is(err, pybridge.ErrBodyOverflow) {
				t.Fatal(err)
			}
		})
	}
}

func TestStreamSendsAHeldBodyBeforeWhatComesAfter(t *testing.T) {
	setHoldLimit(t, time.Hour)
	w := &gatedWriter{header: http.Header{}}
	x := wholeBodyExchange(w, 10)
	if err := x.Stream([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	// Bytes past the Content-Length are dropped, the held body is not.
	if err := x.Stream([]byte("extra")); !errors.Is(err, pybridge.ErrBodyOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if err := x.endStream(); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.snapshot(); got != "0123456789" {
		t.Errorf("body %q", got)
	}
}

// The hold timer races the app's next Stream call and the handler's
// endStream; under -race this found a flag read without the lock.
func TestStreamHoldTimerRacesTheApp(t *testing.T) {
	setHoldLimit(t, time.Microsecond)
	for i := 0; i < 300; i++ {
		w := &gatedWriter{header: http.Header{}}
		x := wholeBodyExchange(w, 10)
		if err := x.Stream([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			time.Sleep(time.Duration(i%7) * time.Microsecond)
		}
		if i%2 == 0 {
			if err := x.Stream([]byte("extra")); !errors.Is(err, pybridge.ErrBodyOverflow) {
				t.Fatalf("overflow: %v", err)
			}
		}
		if err := x.endStream(); err != nil {
			t.Fatal(err)
		}
		if got, writes := w.snapshot(); got != "0123456789" || writes > 2 {
			t.Fatalf("round %d: %q in %d writes", i, got, writes)
		}
	}
}
