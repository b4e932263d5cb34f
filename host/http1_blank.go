package host

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// blankRequests holds the empty requests that the fast path's requests
// start as (http1Conn.parse). A blank carries only a context, which holds
// the server and the connection's local address (net/http's
// ServerContextKey and LocalAddrContextKey); the remote address and the
// header map are the connection's own and are set on each request. So the
// connections that share a local address (those of one listener) share
// one blank: a copy per connection was 300 bytes that 1,000 connections
// multiplied.
type blankRequests struct {
	base    context.Context
	mu      sync.Mutex
	entries []blankRequest
}

type blankRequest struct {
	local *net.TCPAddr
	req   *http.Request
}

// maxBlankRequests bounds the shared blanks: a listener on a wildcard
// address sees one local address per address of the host that clients
// connect to, and a host can have many. Past the bound a connection gets
// a blank of its own.
const maxBlankRequests = 64

// get returns the blank request for connections with local address
// local. The caller must not modify it.
func (b *blankRequests) get(local net.Addr) *http.Request {
	tcp, shareable := local.(*net.TCPAddr)
	if shareable {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.entries {
			if e.local.Port == tcp.Port && e.local.Zone == tcp.Zone && e.local.IP.Equal(tcp.IP) {
				return e.req
			}
		}
	}
	req := (&http.Request{}).WithContext(context.WithValue(b.base, http.LocalAddrContextKey, local))
	if shareable && len(b.entries) < maxBlankRequests {
		b.entries = append(b.entries, blankRequest{local: tcp, req: req})
	}
	return req
}
