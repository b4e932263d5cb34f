package host

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gowsgi/gowsgi/pybridge"
)

func applyPacked(status string, headers ...[2]string) (responseHead, http.Header, error) {
	out := http.Header{}
	rh, err := applyHead(pybridge.NewHead(status, headers...), &headerStore{h: out})
	return rh, out, err
}

func TestApplyHeadAccepts(t *testing.T) {
	rh, h, err := applyPacked("201 Created",
		[2]string{"Content-Type", "text/plain"},
		[2]string{"content-length", "5"},
		[2]string{"Set-Cookie", "a=1"},
		[2]string{"Set-Cookie", "b=2"},
		[2]string{"X-Latin1", "caf\xe9"},
		[2]string{"X-Tab", "a\tb"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if rh.code != 201 || rh.contentLength != 5 {
		t.Fatalf("code %d length %d", rh.code, rh.contentLength)
	}
	if got := h.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1" || got[1] != "b=2" {
		t.Fatalf("Set-Cookie %v: repeated headers must stay separate and in order", got)
	}
	if h.Get("X-Latin1") != "caf\xe9" || h.Get("Content-Length") != "5" {
		t.Fatalf("headers %v", h)
	}
}

// The fast path's store is reused from response to response: a head must
// come out whole whatever the store held, and cost no allocation once the
// store has room.
func TestApplyHeadReusesStore(t *testing.T) {
	store := &headerStore{h: http.Header{}}
	long := pybridge.NewHead("200 OK",
		[2]string{"Content-Type", strings.Repeat("a", 500)},
		[2]string{"Set-Cookie", "one"}, [2]string{"Set-Cookie", "two"},
		[2]string{"X-Extra", "x"})
	if _, err := applyHead(long, store); err != nil {
		t.Fatal(err)
	}
	clear(store.h)
	short := pybridge.NewHead("404 Not Found", [2]string{"Content-Type", "text/plain"}, [2]string{"Content-Length", "9"})
	rh, err := applyHead(short, store)
	if err != nil {
		t.Fatal(err)
	}
	want := http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"9"}}
	if rh.code != 404 || rh.contentLength != 9 || !reflect.DeepEqual(store.h, want) {
		t.Fatalf("got %d %d %q, want 404 9 %q", rh.code, rh.contentLength, store.h, want)
	}
	allocs := testing.AllocsPerRun(100, func() {
		clear(store.h)
		if _, err := applyHead(short, store); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per head with a store that has room, want 0", allocs)
	}
}

// A store that grew large is not kept for later responses.
func TestHeaderStoreDropsLargeBlocks(t *testing.T) {
	store := &headerStore{h: http.Header{}}
	big := pybridge.NewHead("200 OK", [2]string{"Set-Cookie", strings.Repeat("c", maxKeptHeaderBlock+1)})
	if _, err := applyHead(big, store); err != nil {
		t.Fatal(err)
	}
	store.release()
	for range 10 {
		if got := takeHeaderStore(); got == store {
			t.Fatal("a store with a block over maxKeptHeaderBlock came back from the pool")
		}
	}
	if len(store.h) != 0 {
		t.Fatalf("released store still has headers %q", store.h)
	}
}

func TestApplyHeadDropsHopByHop(t *testing.T) {
	rh, h, err := applyPacked("200 OK", [2]string{"Connection", "close"}, [2]string{"Transfer-Encoding", "chunked"}, [2]string{"X-Ok", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rh.dropped) != 2 || h.Get("Connection") != "" || h.Get("Transfer-Encoding") != "" || h.Get("X-Ok") != "1" {
		t.Fatalf("dropped %v headers %v", rh.dropped, h)
	}
}

func TestApplyHeadRejects(t *testing.T) {
	cases := map[string]struct {
		status  string
		headers [][2]string
	}{
		"no reason":           {"200", nil},
		"letters":             {"abc", nil},
		"short code":          {"20 OK", nil},
		"informational":       {"101 Switching Protocols", nil},
		"CR in status":        {"200 OK\r\nX: y", nil},
		"CRLF in value":       {"200 OK", [][2]string{{"X-Bad", "x\r\nX-Injected: 1"}}},
		"LF in value":         {"200 OK", [][2]string{{"X-Bad", "x\ny"}}},
		"NUL in value":        {"200 OK", [][2]string{{"X-Bad", "x\x00"}}},
		"space in name":       {"200 OK", [][2]string{{"X Bad", "1"}}},
		"colon in name":       {"200 OK", [][2]string{{"X:Bad", "1"}}},
		"empty name":          {"200 OK", [][2]string{{"", "1"}}},
		"non-token byte":      {"200 OK", [][2]string{{"X-\xe9", "1"}}},
		"bad content-length":  {"200 OK", [][2]string{{"Content-Length", "12a"}}},
		"negative length":     {"200 OK", [][2]string{{"Content-Length", "-1"}}},
		"signed length":       {"200 OK", [][2]string{{"Content-Length", "+5"}}},
		"conflicting lengths": {"200 OK", [][2]string{{"Content-Length", "1"}, {"Content-Length", "2"}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, h, err := applyPacked(c.status, c.headers...)
			if !errors.Is(err, errInvalidHead) {
				t.Fatalf("err %v, want errInvalidHead", err)
			}
			if len(h) != 0 {
				t.Fatalf("headers copied despite the error: %v", h)
			}
		})
	}
}

func TestCanonicalKeyMatchesNetHTTP(t *testing.T) {
	for _, name := range []string{"content-type", "Content-Type", "set-cookie", "X-Frame-Options", "x-custom-thing", "ETag", "www-authenticate"} {
		if got, want := canonicalKey([]byte(name)), http.CanonicalHeaderKey(name); got != want {
			t.Errorf("canonicalKey(%q) = %q, want %q", name, got, want)
		}
	}
}
