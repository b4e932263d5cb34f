package pybridge

import (
	"encoding/binary"
)

// Head is the status line and headers an app passed to start_response, as
// latin-1 bytes packed by C (u32 length + bytes: status, then name, value
// pairs). It views C memory: use it only inside Exchange.StartResponse.
type Head struct {
	raw   []byte
	count int
}

// NewHead packs a status and headers the way C does; for tests and tools.
func NewHead(status string, headers ...[2]string) *Head {
	var raw []byte
	raw = appendField(raw, status)
	for _, h := range headers {
		raw = appendField(raw, h[0])
		raw = appendField(raw, h[1])
	}
	return &Head{raw: raw, count: len(headers)}
}

func appendField(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// field reads one field at *off and advances it.
func (h *Head) field(off *int) []byte {
	if *off+4 > len(h.raw) {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(h.raw[*off:]))
	start := *off + 4
	if start+n > len(h.raw) {
		return nil
	}
	*off = start + n
	return h.raw[start : start+n]
}

// Status returns the status string, e.g. "200 OK" (a view into C memory).
func (h *Head) Status() []byte {
	off := 0
	return h.field(&off)
}

// Len is the number of headers.
func (h *Head) Len() int { return h.count }

// Headers returns an iterator over the headers in order. It allocates
// nothing (this runs on every request).
func (h *Head) Headers() HeaderIter {
	it := HeaderIter{h: h}
	h.field(&it.off) // skip the status
	return it
}

// HeaderIter walks a Head's headers; see Head.Headers.
type HeaderIter struct {
	h    *Head
	off  int
	done int
}

// Next returns the next header; ok is false after the last. name and
// value view C memory: copy them to keep them.
func (it *HeaderIter) Next() (name, value []byte, ok bool) {
	if it.done >= it.h.count {
		return nil, nil, false
	}
	it.done++
	name = it.h.field(&it.off)
	value = it.h.field(&it.off)
	return name, value, true
}
