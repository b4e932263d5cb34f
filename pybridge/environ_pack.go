package pybridge

import "encoding/binary"

// PackedEnviron is a request's environ packed for one cgo call: entries of
// [u16 key index, or 0xFFFF then u32 length + key bytes] [u32 length + value
// bytes]. Key indexes refer to Config.KnownKeys, which C interns once, so a
// common key costs no string creation per request. Values are raw bytes;
// C decodes them as latin-1.
type PackedEnviron struct {
	buf []byte
}

const literalKey = 0xFFFF

// Reset empties the buffer, keeping its memory.
func (p *PackedEnviron) Reset() { p.buf = p.buf[:0] }

// AddKnown adds the key Config.KnownKeys[index].
func (p *PackedEnviron) AddKnown(index int, value string) {
	p.buf = binary.LittleEndian.AppendUint16(p.buf, uint16(index))
	p.buf = appendField(p.buf, value)
}

// Add adds a key that is not in Config.KnownKeys.
func (p *PackedEnviron) Add(key, value string) {
	p.buf = binary.LittleEndian.AppendUint16(p.buf, literalKey)
	p.buf = appendField(p.buf, key)
	p.buf = appendField(p.buf, value)
}

// Bytes returns the packed buffer.
func (p *PackedEnviron) Bytes() []byte { return p.buf }
