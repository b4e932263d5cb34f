package pybridge

import (
	"encoding/binary"
	"testing"
)

func TestHeadRoundTrip(t *testing.T) {
	h := NewHead("404 Not Found", [2]string{"Content-Type", "text/html"}, [2]string{"X-Empty", ""})
	if string(h.Status()) != "404 Not Found" || h.Len() != 2 {
		t.Fatalf("status %q len %d", h.Status(), h.Len())
	}
	var got [][2]string
	for it := h.Headers(); ; {
		name, value, ok := it.Next()
		if !ok {
			break
		}
		got = append(got, [2]string{string(name), string(value)})
	}
	if len(got) != 2 || got[0] != [2]string{"Content-Type", "text/html"} || got[1] != [2]string{"X-Empty", ""} {
		t.Fatalf("headers %q", got)
	}
}

func TestHeadTruncatedDoesNotPanic(t *testing.T) {
	h := NewHead("200 OK", [2]string{"A", "b"})
	for n := 0; n < len(h.raw); n++ {
		cut := Head{raw: h.raw[:n], count: 1}
		cut.Status()
		for it := cut.Headers(); ; {
			if _, _, ok := it.Next(); !ok {
				break
			}
		}
	}
}

func TestPackedEnvironLayout(t *testing.T) {
	var p PackedEnviron
	p.AddKnown(3, "GET")
	p.Add("HTTP_X", "v")
	b := p.Bytes()
	want := []byte{3, 0, 3, 0, 0, 0, 'G', 'E', 'T', 0xff, 0xff, 6, 0, 0, 0, 'H', 'T', 'T', 'P', '_', 'X', 1, 0, 0, 0, 'v'}
	if string(b) != string(want) {
		t.Fatalf("packed %v, want %v", b, want)
	}
	if binary.LittleEndian.Uint16(b) != 3 {
		t.Fatal("index is not little-endian u16")
	}
	p.Reset()
	if len(p.Bytes()) != 0 {
		t.Fatal("Reset kept bytes")
	}
}
