package pybridge

/*
#include "bridge.h"
*/
import "C"

import (
	"errors"
	"runtime/cgo"
	"unsafe"
)

// The functions here are called from C while a request is running on the
// Python thread whose handle is h. C releases the GIL before each call, so
// they may block; they must never panic back into C.

// threadOf turns a handle back into its Thread, or nil.
func threadOf(h C.uintptr_t) *Thread {
	t, _ := cgo.Handle(h).Value().(*Thread)
	return t
}

//export gowsgiReadBody
func gowsgiReadBody(h C.uintptr_t, buf *C.char, n C.size_t) (read C.longlong) {
	defer func() {
		if recover() != nil {
			read = -1
		}
	}()
	t := threadOf(h)
	if t == nil || t.exchange == nil {
		return -1
	}
	if n == 0 {
		return 0
	}
	got, err := t.exchange.ReadBody(unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n)))
	if got > 0 {
		return C.longlong(got)
	}
	if err != nil && !isEOF(err) {
		return -1
	}
	return 0
}

//export gowsgiWrite
func gowsgiWrite(h C.uintptr_t, headers *C.char, headersLen C.size_t, headerCount C.int, data *C.char, n C.size_t) (rc C.int) {
	defer func() {
		if recover() != nil {
			rc = -1
		}
	}()
	t := threadOf(h)
	if t == nil || t.exchange == nil {
		return -1
	}
	if headers != nil {
		head := Head{raw: cBytes(headers, headersLen), count: int(headerCount)}
		if err := t.exchange.StartResponse(&head); err != nil {
			return -2
		}
		t.headersSent = true
	}
	if n == 0 {
		return 0
	}
	if err := t.exchange.Stream(cBytes(data, n)); err != nil {
		if errors.Is(err, ErrBodyOverflow) {
			t.writeOverflow = err
			return 0
		}
		return -1
	}
	return 0
}

//export gowsgiLog
func gowsgiLog(msg *C.char, n C.size_t) {
	defer func() { _ = recover() }()
	if l := errorLog; l != nil {
		l(string(cBytes(msg, n)))
	}
}

// cBytes views C memory as a byte slice without copying; the slice is valid
// only while C keeps the memory alive (until the next bridge call).
func cBytes(p *C.char, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}
