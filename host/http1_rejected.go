package host

import "bytes"

// net/http refuses a malformed request (a bad request line, header or
// Content-Length, a second Host, an unsupported Transfer-Encoding or
// protocol, a head over the limit) by writing a canned response straight
// to the connection, without calling a handler and without a log line.
// Every request the fast path does not take reaches net/http through a
// prefixConn, so its writes are where such a refusal can be seen and
// logged, as gunicorn logs "Invalid request from ip=...".

// Write passes p on, and logs p first when it is net/http's refusal.
func (c *prefixConn) Write(p []byte) (int, error) {
	if c.log != nil {
		if status, ok := netHTTPRefusal(p); ok {
			c.logRefusal(status)
		}
	}
	c.wrote = true
	return c.Conn.Write(p)
}

// netHTTPRefusal reports whether p is one of net/http's canned refusals
// and returns its status ("400 Bad Request: missing required Host
// header"). They are written whole, in one write, in exactly this form
// (net/http's server.go): "HTTP/1.1 " + status + the headers below +
// the status again as the body, or, for a 501, "Unsupported transfer
// encoding". A handler's response never has that shape: net/http adds a
// Date to it and an app's body cannot start a write that is all of it.
func netHTTPRefusal(p []byte) (status []byte, ok bool) {
	const proto = "HTTP/1.1 "
	const headers = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	if len(p) < len(proto)+3 || string(p[:len(proto)]) != proto || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return nil, false
	}
	status, body, found := bytes.Cut(p[len(proto):], []byte(headers))
	if !found || bytes.IndexByte(status, '\n') >= 0 {
		return nil, false
	}
	if !bytes.Equal(body, status) && string(body) != "Unsupported transfer encoding" {
		return nil, false
	}
	return status, true
}

// logRefusal names the client and, when the refused request was the
// first on this connection, its request line: later ones were read by
// net/http alone.
func (c *prefixConn) logRefusal(status []byte) {
	line := []byte("Invalid request from ")
	line = append(line, c.RemoteAddr().String()...)
	line = append(line, ": "...)
	line = appendLogText(line, cutForLog(string(status), 200))
	if !c.wrote && len(c.head) > 0 {
		line = append(line, " (request line \""...)
		line = appendLogText(line, firstRequestLine(c.head))
		line = append(line, "\")"...)
	}
	c.log.Warningf("%s", line)
}

// firstRequestLine is the start of head up to its first line end, cut at
// 200 bytes, for the refusal's log line.
func firstRequestLine(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	return cutForLog(string(bytes.TrimSuffix(line, []byte("\r"))), 200)
}
