// Package pybridge embeds CPython: the interpreter's life, Python threads,
// the app import and the per-request call. It is the only package with
// import "C" and knows nothing of HTTP: requests arrive as a packed environ
// and leave through the Exchange interface.
//
// Build: the Makefile sets PKG_CONFIG_PATH to the chosen Python's
// lib/pkgconfig (so python3-embed.pc names its headers and libpython) and
// CGO_LDFLAGS to an rpath of its libdir, so the binary loads the libpython
// it was built against.
package pybridge

/*
#cgo pkg-config: python3-embed
#cgo CFLAGS: -O2 -Wall -Wno-missing-braces
#cgo LDFLAGS: -ldl
#cgo noescape gw_thread_current
#cgo nocallback gw_thread_current
#cgo noescape gw_thread_result
#cgo nocallback gw_thread_result
#include "bridge.h"
*/
import "C"
