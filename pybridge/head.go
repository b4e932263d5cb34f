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

// Each calls fn for every header in order until fn returns false. name and
// value view C memory: copy them to keep them.
func (h *Head) Each(fn func(name, value []byte) bool) {
	off := 0
	h.field(&off) // status
	for i := 0; i < h.count; i++ {
		name := h.field(&off)
		value := h.field(&off)
		if !fn(name, value) {
			return
		}
	}
}
