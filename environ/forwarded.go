package environ

import (
	"net/netip"
	"strings"
)

// proxyInfo is what a trusted peer's forwarding headers say about the
// client. Empty fields leave the connection's own values in place.
type proxyInfo struct {
	addr, port string // REMOTE_ADDR, REMOTE_PORT (port "" means none known)
	proto      string // "http" or "https"
	host       string // replaces HTTP_HOST, SERVER_NAME, SERVER_PORT
}

// proxyHeaders holds the header lines of the forwarding headers, as Build
// finds them (canonical names only) while walking r.Header.
type proxyHeaders struct {
	forwarded, xff, xfp, xfh, xfport []string
}

// fromProxyHeaders reads the forwarding headers of a request whose peer is
// trusted. RFC 7239 Forwarded, when present, is the sole source; otherwise
// X-Forwarded-For/-Proto/-Host. Mixing the two would let a header the
// proxy never touched fill a gap in the one it did set.
func fromProxyHeaders(h *proxyHeaders, allow []netip.Prefix) proxyInfo {
	if hasContent(h.forwarded) {
		return fromForwarded(h.forwarded, allow)
	}
	var p proxyInfo
	p.addr, p.port = clientFromXFF(h.xff, allow)
	// Proto and Host take the right-most value: proxies usually overwrite
	// these (nginx's $scheme, HAProxy set-header) and, when several are
	// listed, only the last is known to come from our trusted peer.
	p.proto = normProto(lastListElement(h.xfp))
	if host := lastListElement(h.xfh); validHost(host) {
		p.host = host
	}
	return p
}

func hasContent(lines []string) bool {
	for _, l := range lines {
		if trimOWS(l) != "" {
			return true
		}
	}
	return false
}

// clientFromXFF walks X-Forwarded-For from the right (the entry our peer
// appended) and returns the first address that is not itself trusted: the
// left-hand entries could have been written by the client. If every entry
// is trusted it returns the left-most. An entry that is not an IP address
// ("unknown", garbage) stops the walk; the address returned is then the
// last good one passed (the proxy that wrote the bad entry), or "" when
// there is none. A port is returned only when the entry carries one.
func clientFromXFF(lines []string, allow []netip.Prefix) (addr, port string) {
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		for {
			j := strings.LastIndexByte(s, ',')
			if e := trimOWS(s[j+1:]); e != "" {
				ip, text, prt, ok := parseNode(e)
				if !ok {
					return addr, port
				}
				addr, port = text, prt
				if !trusted(ip, allow) {
					return addr, port
				}
			}
			if j < 0 {
				break
			}
			s = s[:j]
		}
	}
	return addr, port
}

// lastListElement returns the right-most non-empty element of a
// comma-separated header list that may span several header lines.
func lastListElement(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		s := lines[i]
		for {
			j := strings.LastIndexByte(s, ',')
			if e := trimOWS(s[j+1:]); e != "" {
				return e
			}
			if j < 0 {
				break
			}
			s = s[:j]
		}
	}
	return ""
}

// forwardedElement is one element of an RFC 7239 Forwarded header, values
// unquoted but not otherwise checked.
type forwardedElement struct {
	For, Proto, Host string
}

// fromForwarded walks the Forwarded elements from the right. Element i was
// written by the hop named in element i+1's for= (the last one by our
// peer), so it is trustworthy while that hop is trusted. The walk stops at
// the first for= that is untrusted (that is the client), unknown,
// obfuscated or malformed; REMOTE_ADDR becomes the last address seen.
// proto= and host= come from the left-most trustworthy element that has
// them: that element describes the request as the client sent it.
func fromForwarded(lines []string, allow []netip.Prefix) proxyInfo {
	var p proxyInfo
	var buf [16]string // stays on the stack for any sane proxy chain
	elems := buf[:0]
	for _, line := range lines {
		for s := line; s != ""; {
			var e string
			e, s = splitQuoted(s, ',')
			if e != "" {
				elems = append(elems, e)
			}
		}
	}
	for i := len(elems) - 1; i >= 0; i-- {
		f, ok := parseForwardedElement(elems[i])
		if !ok {
			return p
		}
		if proto := normProto(f.Proto); proto != "" {
			p.proto = proto
		}
		if validHost(f.Host) {
			p.host = f.Host
		}
		ip, text, port, ok := parseNode(f.For)
		if !ok {
			return p
		}
		p.addr, p.port = text, port
		if !trusted(ip, allow) {
			return p
		}
	}
	return p
}

// splitQuoted returns the text before the first sep outside a quoted
// string (trimmed of spaces and tabs) and the text after it. A backslash
// inside quotes escapes the next byte. An unterminated quote runs to the end.
func splitQuoted(s string, sep byte) (head, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			return trimOWS(s[:i]), s[i+1:]
		}
	}
	return trimOWS(s), ""
}

// parseForwardedElement parses `pair *( ";" pair )`, pair = token "="
// ( token / quoted-string ). Parameter names are case-insensitive; unknown
// ones (and by=) are skipped. It reports false for a malformed element or a
// repeated parameter (RFC 7239 §4 forbids repeats; taking either copy
// would let the client choose). Bare values may hold ':', '[' and ']',
// which RFC 7239 requires to be quoted but proxies often send as is.
func parseForwardedElement(e string) (forwardedElement, bool) {
	var f forwardedElement
	var seen uint8
	for e != "" {
		var pair string
		pair, e = splitQuoted(e, ';')
		if pair == "" {
			continue
		}
		eq := strings.IndexByte(pair, '=')
		if eq <= 0 {
			return forwardedElement{}, false
		}
		name, val := trimOWS(pair[:eq]), trimOWS(pair[eq+1:])
		if !isToken(name) {
			return forwardedElement{}, false
		}
		if val != "" && val[0] == '"' {
			v, ok := unquoteString(val)
			if !ok {
				return forwardedElement{}, false
			}
			val = v
		} else if !isBareValue(val) {
			return forwardedElement{}, false
		}
		var bit uint8
		var dst *string
		switch {
		case strings.EqualFold(name, "for"):
			bit, dst = 1, &f.For
		case strings.EqualFold(name, "proto"):
			bit, dst = 2, &f.Proto
		case strings.EqualFold(name, "host"):
			bit, dst = 4, &f.Host
		case strings.EqualFold(name, "by"):
			bit = 8
		default:
			continue
		}
		if seen&bit != 0 {
			return forwardedElement{}, false
		}
		seen |= bit
		if dst != nil {
			*dst = val
		}
	}
	return f, true
}

// unquoteString decodes an RFC 9110 quoted-string. It allocates only when
// the string holds a backslash escape.
func unquoteString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	if strings.IndexByte(in, '\\') < 0 {
		if strings.IndexByte(in, '"') >= 0 {
			return "", false
		}
		return in, true
	}
	var b strings.Builder
	b.Grow(len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch c {
		case '"':
			return "", false
		case '\\':
			i++
			if i == len(in) {
				return "", false
			}
			c = in[i]
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// parseNode parses a client address as found in X-Forwarded-For or a
// Forwarded for=: "192.0.2.1", "192.0.2.1:80", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:80". text is the address as written
// (without brackets or port), port the decimal port or "" (an RFC 7239
// obfuscated port "_x" counts as none). "unknown", obfuscated identifiers
// ("_hidden") and anything else report false.
func parseNode(s string) (ip netip.Addr, text, port string, ok bool) {
	if s == "" {
		return netip.Addr{}, "", "", false
	}
	if s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return netip.Addr{}, "", "", false
		}
		text, rest := s[1:j], s[j+1:]
		if rest != "" {
			if rest[0] != ':' {
				return netip.Addr{}, "", "", false
			}
			port = rest[1:]
		}
		ip, err := netip.ParseAddr(text)
		if err != nil || !ip.Is6() {
			return netip.Addr{}, "", "", false
		}
		if port, ok = nodePort(port); !ok {
			return netip.Addr{}, "", "", false
		}
		return ip, text, port, true
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return ip, s, "", true
	}
	j := strings.LastIndexByte(s, ':')
	if j < 0 {
		return netip.Addr{}, "", "", false
	}
	ip, err := netip.ParseAddr(s[:j])
	if err != nil || !ip.Is4() {
		// An IPv6 address with a port must use brackets.
		return netip.Addr{}, "", "", false
	}
	if port, ok = nodePort(s[j+1:]); !ok {
		return netip.Addr{}, "", "", false
	}
	return ip, s[:j], port, true
}

// nodePort validates a node port: 1 to 5 digits, or an obfuscated port
// ("_" then letters, digits, '.', '_', '-'), which yields "".
func nodePort(p string) (string, bool) {
	if p == "" {
		return "", true
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return "", false
			}
		}
		return "", true
	}
	if !isPort(p) {
		return "", false
	}
	return p, true
}

// isPort reports whether p is 1 to 5 ASCII digits.
func isPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// normProto accepts only the two schemes WSGI knows, case-insensitively,
// and returns them as constants so no header bytes leak into url_scheme.
func normProto(s string) string {
	switch {
	case strings.EqualFold(s, "https"):
		return "https"
	case strings.EqualFold(s, "http"):
		return "http"
	}
	return ""
}

// validHost reports whether a forwarded host is a plausible uri-host with
// an optional port: reg-name or IPv4 characters, or a bracketed IPv6
// literal, then ":digits". It keeps separators, spaces and control bytes
// out of HTTP_HOST and SERVER_NAME.
func validHost(h string) bool {
	if h == "" || len(h) > 1024 {
		return false
	}
	name, port, hasPort := h, "", false
	if h[0] == '[' {
		j := strings.IndexByte(h, ']')
		if j < 0 {
			return false
		}
		for i := 1; i < j; i++ {
			c := h[i]
			if !(isHex(c) || c == ':' || c == '.') {
				return false
			}
		}
		name = ""
		switch rest := h[j+1:]; {
		case rest == "":
		case rest[0] == ':':
			port, hasPort = rest[1:], true
		default:
			return false
		}
	} else if j := strings.IndexByte(h, ':'); j >= 0 {
		name, port, hasPort = h[:j], h[j+1:], true
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isAlnum(c) || strings.IndexByte("-._~!$&'()*+=%", c) >= 0) {
			return false
		}
	}
	if h[0] != '[' && name == "" {
		return false
	}
	return !hasPort || port == "" || isPort(port)
}

// trimOWS trims optional whitespace (spaces and tabs) from both ends.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && strings.IndexByte("!#$%&'*+-.^_`|~", c) < 0 {
			return false
		}
	}
	return true
}

// isBareValue reports whether s is a token, leniently also allowing the
// ':', '[' and ']' of unquoted addresses.
func isBareValue(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && strings.IndexByte("!#$%&'*+-.^_`|~:[]", c) < 0 {
			return false
		}
	}
	return true
}

// secureScheme reports whether one of gunicorn's --secure-scheme-headers
// carries its "this was https" value (compared case-insensitively).
func secureScheme(h map[string][]string, secure []SecureHeader) bool {
	for _, sh := range secure {
		for _, v := range h[sh.Name] {
			if strings.EqualFold(trimOWS(v), sh.Value) {
				return true
			}
		}
	}
	return false
}

// isSecureHeader reports whether the canonical header name is one of the
// --secure-scheme-headers.
func isSecureHeader(name string, secure []SecureHeader) bool {
	for _, sh := range secure {
		if sh.Name == name {
			return true
		}
	}
	return false
}

// validPrefix accepts an X-Forwarded-Prefix that is a plain absolute path.
func validPrefix(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == ',' {
			return false
		}
	}
	return true
}
