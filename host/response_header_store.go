package host

import (
	"net/http"
	"sync"
)

// headerStore is a response's header map together with the memory that
// applyHead copies the app's header values into. The fast path's
// response takes one on its first Header() call and gives it back once
// the response is complete (http1Response.releaseHeader), so answering a
// request allocates nothing for its headers, and a connection whose
// request waits for Python, or which waits for its next request, holds
// none (about 400 bytes each, which 1,000 busy connections multiply).
//
// Reusing block is safe because the strings cut from it live only in h:
// release clears h before another response can write block again, and
// everything that reads the headers (the response head, the access log)
// does so before the response completes.
type headerStore struct {
	h     http.Header
	block []byte   // the header values, one after another
	slots []string // backing array of h's one-value slices
	keys  []string // h's names, sorted for the response head (sendHead)

	// The app's reason phrase for reasonCode, when it is not Go's
	// StatusText ("302 FOUND" from werkzeug, "299 Whatever"): the fast
	// path sends it as given, as gunicorn does. net/http cannot.
	reasonCode int
	reason     string
}

// A store that grew past these (an app sent a few large cookies, say) is
// dropped on release rather than kept for every later response.
const (
	maxKeptHeaderBlock = 4 << 10
	maxKeptHeaderSlots = 64
)

// headerStorer is a ResponseWriter whose header map is a headerStore's
// (the fast path's http1Response).
type headerStorer interface {
	headerStorage() *headerStore
}

var headerStores = sync.Pool{New: func() any { return &headerStore{h: make(http.Header)} }}

func takeHeaderStore() *headerStore { return headerStores.Get().(*headerStore) }

// release empties s and gives it back for another response.
func (s *headerStore) release() {
	clear(s.h)
	clear(s.slots)
	clear(s.keys)
	s.reasonCode, s.reason = 0, ""
	if cap(s.block) > maxKeptHeaderBlock || cap(s.slots) > maxKeptHeaderSlots || cap(s.keys) > maxKeptHeaderSlots {
		return
	}
	headerStores.Put(s)
}
