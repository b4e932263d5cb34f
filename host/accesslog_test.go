package host

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseAccessLogFormat(t *testing.T) {
	atoms, err := parseAccessLogFormat(`%(h)s 100%% "%({x-custom}i)s" %({Content-Type}o)s %(zz)s`)
	if err != nil {
		t.Fatal(err)
	}
	want := []accessAtom{{name: 'h'}, {literal: " 100% \""}, {name: 'i', arg: "X-Custom"}, {literal: "\" "}, {name: 'o', arg: "Content-Type"}, {literal: " "}, {name: '?'}}
	if len(atoms) != len(want) {
		t.Fatalf("atoms %+v", atoms)
	}
	for i := range want {
		if atoms[i] != want[i] {
			t.Errorf("atom %d: %+v, want %+v", i, atoms[i], want[i])
		}
	}
	for _, bad := range []string{"%(h", "50% off", "%"} {
		if _, err := parseAccessLogFormat(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestAccessLogDefaultFormatMatchesGunicorn(t *testing.T) {
	var out strings.Builder
	atoms, _ := parseAccessLogFormat(DefaultAccessLogFormat)
	a := &accessLog{out: &out, format: atoms, pid: 1}
	r := httptest.NewRequest("GET", "/p?q=1", nil)
	r.RemoteAddr = "10.0.0.7:5555"
	r.Header.Set("User-Agent", "ua")
	start := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	a.record(&accessEntry{r: r, status: 200, size: 12, start: start, respHeader: http.Header{}})
	want := `10.0.0.7 - - [22/Nov/2026:10:04:05 +0000] "GET /p?q=1 HTTP/1.1" 200 12 "-" "ua"` + "\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", "quote \" back \\ slash", "line\nbreak\ttab\r", "ctl \x01\x1f\x7f", "bad utf8 \xff\xfe", "ünïcode ✓ \u2028"} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%q -> %s: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want && !strings.Contains(s, "\xff") {
			t.Errorf("%q round-trips to %q", s, back)
		}
	}
}

// %(L)s truncates to the microsecond, as gunicorn does, so it never
// disagrees with %(D)s (rounding once made 122.6 µs "0.000123" and 122).
func TestAccessLogSecondsAgreeWithMicroseconds(t *testing.T) {
	atoms, err := parseAccessLogFormat("%(L)s %(D)s")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{122600 * time.Nanosecond, "0.000122 122\n"},
		{1500 * time.Millisecond, "1.500000 1500000\n"},
		{2 * time.Second, "2.000000 2000000\n"},
		{62*time.Second + 7*time.Microsecond, "62.000007 62000007\n"},
	} {
		var out strings.Builder
		a := &accessLog{out: &out, format: atoms, pid: 1}
		a.record(&accessEntry{r: httptest.NewRequest("GET", "/", nil), status: 200, duration: c.d, respHeader: http.Header{}})
		if out.String() != c.want {
			t.Errorf("%v: got %q, want %q", c.d, out.String(), c.want)
		}
	}
}

// A client cannot forge a text access line or a field: control bytes,
// quotes and backslashes from the request are written as \xNN.
func TestAccessLogTextEscapesClientBytes(t *testing.T) {
	var out strings.Builder
	atoms, _ := parseAccessLogFormat(`%(u)s "%(U)s" "%(a)s" "%({X-Request-ID}i)s"`)
	a := &accessLog{out: &out, format: atoms, pid: 1, requestIDHeader: "X-Request-Id"}
	r := httptest.NewRequest("GET", "/a%0d%0aFAKE", nil)
	r.SetBasicAuth("alice\n10.0.0.1 - \"GET /admin\"", "pw")
	r.Header.Set("User-Agent", `ua" 200 "x\`)
	r.Header.Set("X-Request-Id", strings.Repeat("c", 300)) // refused: the made id is shown
	a.record(&accessEntry{r: r, status: 200, start: time.Now(), respHeader: http.Header{}, requestID: "made-1"})
	want := `alice\x0A10.0.0.1 - \x22GET /admin\x22 "/a\x0D\x0AFAKE" "ua\x22 200 \x22x\x5C" "made-1"` + "\n"
	if out.String() != want {
		t.Errorf("got  %q\nwant %q", out.String(), want)
	}
}

// A 414's request line (up to a megabyte) is cut in the access log, in
// text and JSON lines alike.
func TestAccessLogCutsHugeClientFields(t *testing.T) {
	long := "/q?" + strings.Repeat("q", 100_000)
	for _, json := range []bool{false, true} {
		var out strings.Builder
		atoms, _ := parseAccessLogFormat(DefaultAccessLogFormat)
		a := &accessLog{out: &out, format: atoms, pid: 1, json: json}
		r := httptest.NewRequest("GET", long, nil)
		r.Header.Set("User-Agent", strings.Repeat("u", 50_000))
		a.record(&accessEntry{r: r, status: 414, start: time.Now(), respHeader: http.Header{}})
		line := out.String()
		if len(line) > 3*maxLoggedField || !strings.Contains(line, "...[+91811 bytes]") {
			t.Errorf("json=%v: a %d-byte line, want the URI cut at %d bytes with its mark: %.300q", json, len(line), maxLoggedField, line)
		}
	}
}

func TestValidRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"5cd095e899dec14c-1a": true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1":      true,
		"":                       false,
		strings.Repeat("a", 201): false,
		"a b":                    false,
		`a"b`:                    false,
		`a\b`:                    false,
		"caf\u00e9":              false,
	} {
		if got := validRequestID(id); got != want {
			t.Errorf("validRequestID(%q) = %v, want %v", id, got, want)
		}
	}
}
