package host

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// notsentLowatOf reads the socket's TCP_NOTSENT_LOWAT.
func notsentLowatOf(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt TCP_NOTSENT_LOWAT: %v", gerr)
	}
	return v
}

// serverConn returns the server's side of the fast front's one open
// connection, once it has been accepted.
func serverConn(t *testing.T, f *http1Front) *net.TCPConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		for c := range f.live {
			f.mu.Unlock()
			tc, ok := c.rwc.(*net.TCPConn)
			if !ok {
				t.Fatalf("connection is a %T", c.rwc)
			}
			return tc
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the connection was not accepted")
		}
		time.Sleep(time.Millisecond)
	}
}

// waitForLowat polls the socket until its mark is want.
func waitForLowat(t *testing.T, c *net.TCPConn, want int, while string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second) // under the server's 5 s idle timeout
	for {
		got := notsentLowatOf(t, c)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: TCP_NOTSENT_LOWAT = %d, want %d", while, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The mark is on while a file goes out by sendfile, and off again for
// the connection's next response.
func TestNotsentLowatOnlyWhileSendingAFile(t *testing.T) {
	const size = 32 << 20 // far more than the socket buffers hold
	name := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(name, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/file" {
			_, _ = io.WriteString(w, "small")
			return
		}
		f, err := os.Open(name)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.Copy(w, f)
	})
	srv := newWireServer(h, nil)
	front, addr := startFastFront(t, srv)
	front.notsentLowat = defaultNotsentLowat

	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn := serverConn(t, front)
	kernelDefault := notsentLowatOf(t, conn) // what the accepted socket has
	if _, err := io.WriteString(client, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing yet, so sendfile waits for room.
	waitForLowat(t, conn, defaultNotsentLowat, "while the file is sent")
	if kernelDefault == defaultNotsentLowat {
		t.Fatalf("a fresh socket already has %d; the test cannot tell", kernelDefault)
	}

	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	resp.Body.Close()
	if _, err := io.WriteString(client, "GET /small HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "small" {
		t.Fatalf("second response %q", body)
	}
	waitForLowat(t, conn, kernelDefault, "after the file")
}

// With the mark off (--tcp-notsent-lowat 0) a file leaves the socket's
// setting alone.
func TestNotsentLowatZeroLeavesTheSocket(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(name, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, _ := os.Open(name)
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", fmt.Sprint(8<<20))
		_, _ = io.Copy(w, f)
	})
	front, addr := startFastFront(t, newWireServer(h, nil))
	client, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn := serverConn(t, front)
	kernelDefault := notsentLowatOf(t, conn)
	if _, err := io.WriteString(client, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // sendfile is waiting for room
	if got := notsentLowatOf(t, conn); got != kernelDefault {
		t.Fatalf("TCP_NOTSENT_LOWAT = %d with the mark off", got)
	}
}

func TestNotsentLowatMustNotBeNegative(t *testing.T) {
	cfg := DefaultConfig()
	cfg.App = "app:application"
	cfg.NotsentLowat = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--tcp-notsent-lowat") {
		t.Fatalf("Validate() = %v, want an error naming --tcp-notsent-lowat", err)
	}
}
