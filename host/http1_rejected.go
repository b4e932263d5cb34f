package host

import (
	"bytes"
	"strconv"
)

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
// and returns its status line ("400 Bad Request: missing required Host
// header"). Those are written whole in one write, end their head with
// "Connection: close", and, unlike every response a handler makes, carry
// no Date header.
func netHTTPRefusal(p []byte) (status []byte, ok bool) {
	const proto = "HTTP/1.1 "
	if len(p) < len(proto)+3 || string(p[:len(proto)]) != proto || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return nil, false
	}
	head, _, found := bytes.Cut(p, []byte("\r\n\r\n"))
	if !found || !bytes.HasSuffix(head, []byte("\r\nConnection: close")) || bytes.Contains(head, []byte("\r\nDate: ")) {
		return nil, false
	}
	status, _, _ = bytes.Cut(head[len(proto):], []byte("\r\n"))
	return status, true
}

// logRefusal names the client and, when the refused request was the
// first on this connection, its request line: later ones were read by
// net/http alone.
func (c *prefixConn) logRefusal(status []byte) {
	line := []byte("Invalid request from ")
	line = append(line, c.RemoteAddr().String()...)
	line = append(line, ": "...)
	line = appendLogText(line, string(status[:min(len(status), 200)]))
	if !c.wrote && len(c.head) > 0 {
		line = append(line, " (request line \""...)
		line = appendLogText(line, firstRequestLine(c.head))
		line = append(line, "\")"...)
	}
	c.log.Warningf("%s", line)
}

// firstRequestLine is the start of head up to its first line end, at most
// 200 bytes (" [+N bytes]" marks a cut), for the refusal's log line.
func firstRequestLine(head []byte) string {
	end := bytes.IndexByte(head, '\n')
	if end < 0 {
		end = len(head)
	}
	line := bytes.TrimSuffix(head[:end], []byte("\r"))
	if len(line) > 200 {
		return string(line[:200]) + " [+" + strconv.Itoa(len(line)-200) + " bytes]"
	}
	return string(line)
}
