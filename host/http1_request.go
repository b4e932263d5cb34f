package host

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// parseHead fills req from one HTTP/1.1 request head (the request line and
// header lines, ending with the empty line), exactly as net/http's server
// would, or reports false for a request the fast path leaves to net/http.
//
// It accepts only the plain, common shape: "METHOD /origin-form HTTP/1.1",
// CRLF line ends, token header names, one Host, at most one all-digit
// Content-Length, and no Transfer-Encoding, Expect or Upgrade. Anything
// else, valid or not, goes to net/http on the same connection (see
// http1Conn.handOff), which then answers it, or refuses it with the same
// 400/431/501 as before. So the fast path never decides what is malformed.
//
// head is the whole head as one string: header names and values are cut
// from it, so a request costs one string, not one per header. req keeps
// its context; every public field a handler may read is reset. vals is
// backing store for the one-value slices of req.Header.
func parseHead(head string, req *http.Request, vals *[]string) bool {
	line, rest, ok := strings.Cut(head, "\r\n")
	if !ok {
		return false
	}
	method, line, ok := strings.Cut(line, " ")
	if !ok || !isToken(method) || method == "CONNECT" || method == "PRI" {
		return false
	}
	target, proto, ok := strings.Cut(line, " ")
	if !ok || proto != "HTTP/1.1" || len(target) == 0 || target[0] != '/' || !plainTarget(target) {
		return false
	}

	h := req.Header
	clear(h)
	*vals = (*vals)[:0]
	host, hosts := "", 0
	length := int64(0)
	lengths := 0
	for len(rest) > 0 {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok {
			return false
		}
		if line == "" {
			break // the empty line ends the head
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(name) {
			return false // also a line folded onto the last (obs-fold)
		}
		value = trimOWS(value)
		if !validValue(value) {
			return false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			host = value
			hosts++
			continue // net/http moves it to req.Host
		case "Content-Length":
			n, ok := parseDigits(value)
			if !ok {
				return false
			}
			length = n
			lengths++
		case "Transfer-Encoding", "Expect", "Upgrade", "Http2-Settings":
			// Chunked bodies, 100-continue and protocol switches are
			// net/http's, with all their rules.
			return false
		}
		if prev, ok := h[key]; ok {
			h[key] = append(prev, value)
			continue
		}
		*vals = append(*vals, value)
		n := len(*vals)
		h[key] = (*vals)[n-1 : n : n]
	}
	if hosts != 1 || !validHost(host) || lengths > 1 {
		return false
	}

	u := req.URL
	*u = url.URL{}
	path, query, hasQuery := strings.Cut(target, "?")
	if hasQuery && query == "" {
		u.ForceQuery = true // url.Parse keeps a lone trailing "?"
	}
	u.RawQuery = query
	if plainPath(path) {
		u.Path = path // unescaping and re-escaping change nothing
	} else {
		parsed, err := url.ParseRequestURI(target)
		if err != nil {
			return false
		}
		req.URL = parsed
	}

	req.Method = method
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	req.RequestURI = target
	req.Host = host
	req.ContentLength = length
	req.TransferEncoding = nil
	req.Close = headerHasToken(h["Connection"], "close") // the header stays, as in net/http
	if pragma, ok := h["Pragma"]; ok && pragma[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"} // net/http's fixPragmaCacheControl
		}
	}
	req.Form, req.PostForm, req.MultipartForm = nil, nil, nil
	req.Trailer = nil
	req.TLS = nil
	req.Response = nil
	req.GetBody = nil
	req.Pattern = ""
	return true
}

// plainTarget: printable ASCII only. A target with anything else (a
// control, a space, a byte >= 0x80) is net/http's to refuse or accept.
func plainTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// plainPath: a path that url.ParseRequestURI would store unchanged in
// URL.Path with an empty RawPath: no '%' escapes, and no byte that
// url.URL.EscapedPath would escape.
func plainPath(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.~$&+,/:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// parseDigits parses a Content-Length: 1 to 18 digits, nothing else.
func parseDigits(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validHost allows the bytes net/http's Host check allows (httpguts).
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// headerHasToken reports whether a comma-separated header (Connection)
// lists token, ASCII case-insensitively (as httpguts does: no Unicode
// folding, so "clo\u017fe" is not "close").
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		if hasTokenASCII(v, token) {
			return true
		}
	}
	return false
}

func hasTokenASCII(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if asciiEqualFold(trimOWS(part), token) {
			return true
		}
	}
	return false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
