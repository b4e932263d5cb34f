package environ

import (
	"math/bits"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Var is one environ entry. Value holds raw bytes; the Python bridge decodes
// every value as latin-1, byte for byte.
type Var struct{ Key, Value string }

var zeroConfig Config

// Build appends the request's CGI/WSGI variables to dst and returns it
// (pass dst[:0] of a previous result to avoid allocating the slice).
//
// Order: REQUEST_METHOD, SCRIPT_NAME, PATH_INFO, QUERY_STRING,
// [CONTENT_TYPE], [CONTENT_LENGTH], SERVER_NAME, SERVER_PORT,
// SERVER_PROTOCOL, REMOTE_ADDR, [REMOTE_PORT], RAW_URI, REQUEST_URI,
// wsgi.url_scheme, then the HTTP_* entries sorted by key. Keys are unique.
//
// It does not emit the entries that are Python objects (wsgi.input,
// wsgi.errors, wsgi.file_wrapper, wsgi.version, wsgi.multithread,
// wsgi.multiprocess, wsgi.run_once, wsgi.input_terminated); the bridge adds
// those. cfg may be nil (no root path, default trusted proxies).
//
// r is expected to come from net/http's server: RequestURI set, header
// names canonical, Host moved to r.Host and http.LocalAddrContextKey in the
// context. Hand-built requests work too (see the package doc).
func Build(dst []Var, r *http.Request, cfg *Config) []Var {
	if cfg == nil {
		cfg = &zeroConfig
	}

	uri := r.RequestURI
	if uri == "" && r.URL != nil {
		uri = r.URL.RequestURI() // a client-style request, e.g. in tests
	}
	rawPath, query := splitTarget(uri)
	pathInfo := unquotePath(rawPath)
	scriptName := cfg.ScriptName
	if scriptName != "" && scriptName[len(scriptName)-1] == '/' {
		scriptName = NormalizeRootPath(scriptName)
	}

	// Headers first, into a bitmask of table keys (by sort rank) and a
	// small list of the others, so the output can be sorted cheaply and
	// the proxy headers found without extra map lookups.
	sc := scratchPool.Get().(*buildScratch)
	defer sc.release()
	var (
		present   uint64       // bit r: rankedKeys[r] is present
		values    = &sc.values // by rank
		proxyHdrs bool
		fwd       proxyHeaders
		ctype     []string
		hasLength bool
		host      = r.Host
		scheme    = "http"
	)
	others := sc.others[:0]
	for name, vals := range r.Header {
		if len(vals) == 0 {
			continue
		}
		switch k := commonHeader(name); k {
		case kContentType:
			ctype = vals
		case kContentLength:
			// r.ContentLength is authoritative; the header only says the
			// client sent one (a GET without it gets no CONTENT_LENGTH,
			// as under gunicorn).
			hasLength = true
		case kHost:
			// HTTP_HOST comes from r.Host.
		case -1:
			key := uncommonHeaderKey(name)
			switch key {
			case "", keyHost, keyHTTPContentType, keyHTTPContentLength:
				continue // dropped, or a non-canonical spelling of the above
			}
			others = append(others, Var{key, joinValues(vals, key)})
			if strings.HasPrefix(key, "HTTP_X_FORWARDED_") || isSecureHeader(name, cfg.SecureSchemeHeaders) {
				proxyHdrs = true // -Ssl, -Protocol, -Prefix, secure-scheme headers: looked up below
			}
		default:
			rank := headerRank[k-numCGIKeys]
			present |= 1 << rank
			values[rank] = joinValues(vals, knownKeys[k])
			switch k {
			case kForwarded:
				fwd.forwarded, proxyHdrs = vals, true
			case kXForwardedFor:
				fwd.xff, proxyHdrs = vals, true
			case kXForwardedProto:
				fwd.xfp, proxyHdrs = vals, true
			case kXForwardedHost:
				fwd.xfh, proxyHdrs = vals, true
			case kXForwardedPort:
				fwd.xfport, proxyHdrs = vals, true
			}
		}
	}

	if r.TLS != nil {
		scheme = "https"
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	remoteAddr, remotePort, unix := peerInfo(r.RemoteAddr, local)
	remoteAddr0 := remoteAddr // the peer itself, before any forwarding header
	if proxyHdrs && (unix || trustedText(remoteAddr, cfg.ForwardedAllow)) {
		p := fromProxyHeaders(&fwd, cfg.ForwardedAllow)
		if p.addr != "" {
			remoteAddr, remotePort = p.addr, p.port
		}
		if p.proto != "" {
			scheme = p.proto
		}
		if p.host != "" {
			host = p.host
		}
		if secureScheme(r.Header, cfg.SecureSchemeHeaders) {
			scheme = "https"
		}
		if cfg.ForwardedPrefix {
			if prefix := r.Header.Get("X-Forwarded-Prefix"); prefix != "" && validPrefix(prefix) {
				scriptName = NormalizeRootPath(prefix)
			}
		}
	}
	if scriptName != "" {
		pathInfo = stripScriptName(pathInfo, scriptName)
	}
	serverName, serverPort := serverNamePort(host, scheme, local)
	if port := lastListElement(fwd.xfport); port != "" && isPort(port) && !hasContent(fwd.forwarded) &&
		(unix || trustedText(remoteAddr0, cfg.ForwardedAllow)) {
		serverPort = port
	}
	if host != "" {
		rank := headerRank[kHost-numCGIKeys]
		present |= 1 << rank
		values[rank] = host
	}

	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	proto := r.Proto
	if proto == "" {
		proto = "HTTP/1.1"
	}

	dst = append(dst,
		Var{keyRequestMethod, method},
		Var{keyScriptName, scriptName},
		Var{keyPathInfo, pathInfo},
		Var{keyQueryString, query},
	)
	if len(ctype) > 0 {
		// The first, as Header.Get does; a joined list is no media type.
		dst = append(dst, Var{keyContentType, ctype[0]})
	}
	// Unknown length (chunked, or HTTP/2 without content-length) means no
	// CONTENT_LENGTH: the app reads wsgi.input to EOF (input_terminated).
	if r.ContentLength > 0 || (r.ContentLength == 0 && hasLength && len(r.TransferEncoding) == 0) {
		dst = append(dst, Var{keyContentLength, formatLength(r.ContentLength)})
	}
	dst = append(dst,
		Var{keyServerName, serverName},
		Var{keyServerPort, serverPort},
		Var{keyServerProtocol, proto},
		Var{keyRemoteAddr, remoteAddr},
	)
	if remotePort != "" {
		dst = append(dst, Var{keyRemotePort, remotePort})
	}
	dst = append(dst,
		Var{keyRawURI, uri},
		Var{keyRequestURI, uri},
		Var{keyURLScheme, scheme},
	)
	return appendHeaders(dst, present, values, others)
}

// buildScratch holds Build's per-call arrays off the goroutine's stack.
// On the stack they made Build's frame 2 KB, which pushed every
// connection goroutine past a 4 KB stack to 8 KB: with 1,000 keep-alive
// connections, 3.7 MB more stack and, as the GC's goal counts stacks,
// about as much more heap.
type buildScratch struct {
	values [numHeaderKeys]string // header values by rank
	others [16]Var               // more uncommon headers than this cost one allocation
}

var scratchPool = sync.Pool{New: func() any { return new(buildScratch) }}

// release clears the strings (they point into the request) and pools sc.
func (sc *buildScratch) release() {
	*sc = buildScratch{}
	scratchPool.Put(sc)
}

// joinValues joins repeated header lines (allocating only then).
func joinValues(vals []string, key string) string {
	if len(vals) == 1 {
		return vals[0]
	}
	return strings.Join(vals, listSep(key))
}

// listSep is the separator for repeated header lines: "; " for Cookie
// (RFC 6265 §5.4, and how HTTP/2 cookie crumbs are rejoined), ", " for the
// rest (RFC 9110 §5.3).
func listSep(key string) string {
	if key == keyCookie {
		return "; "
	}
	return ", "
}

// appendHeaders appends the HTTP_* entries sorted by key, so the output does
// not depend on map order: the table keys in rank order straight from the
// bitmask, merged with the sorted others.
func appendHeaders(dst []Var, present uint64, values *[numHeaderKeys]string, others []Var) []Var {
	sortVars(others)
	start := len(dst)
	for present != 0 {
		rank := bits.TrailingZeros64(present)
		key := rankedKeys[rank]
		for len(others) > 0 && others[0].Key < key {
			dst = appendOther(dst, start, others[0])
			others = others[1:]
		}
		dst = append(dst, Var{key, values[rank]})
		present &= present - 1
	}
	for _, v := range others {
		dst = appendOther(dst, start, v)
	}
	return dst
}

// appendOther appends v, or joins it onto the previous entry when the key
// is the same. Equal keys arise only from hand-built header maps holding
// two spellings of one name ("X-A" and "x-a"); net/http's server
// canonicalises every name this package accepts. A table key is never
// equal to its predecessor, so only these entries need the check.
func appendOther(dst []Var, start int, v Var) []Var {
	if n := len(dst); n > start && dst[n-1].Key == v.Key {
		dst[n-1].Value += listSep(v.Key) + v.Value
		return dst
	}
	return append(dst, v)
}

// sortVars sorts by key, then value (which decides only between duplicate
// keys, so that their merge order is deterministic).
func sortVars(h []Var) {
	if len(h) <= 12 {
		// Insertion sort: uncommon headers are few, and this avoids
		// slices.SortFunc's closure calls.
		for i := 1; i < len(h); i++ {
			for j := i; j > 0 && varLess(&h[j], &h[j-1]); j-- {
				h[j], h[j-1] = h[j-1], h[j]
			}
		}
		return
	}
	// pdqsort keeps a request with thousands of headers O(n log n).
	slices.SortFunc(h, func(a, b Var) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// varLess is sortVars' order for the insertion sort.
func varLess(a, b *Var) bool {
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	return a.Value < b.Value
}

// splitTarget splits a request-target into its raw path and raw query.
// origin-form "/p?q" and absolute-form "http://host/p?q" give "/p", "q";
// an absolute-form without a path gives "/". asterisk-form "*" gives "*".
// authority-form (CONNECT's "host:port") has no path: "", "".
// A "#fragment" (never valid in a request, but Go accepts it) is cut off
// both, as gunicorn does; RAW_URI keeps it.
func splitTarget(uri string) (path, query string) {
	switch {
	case uri == "*":
		return "*", ""
	case uri == "":
		return "", ""
	case uri[0] == '/':
	default:
		i := strings.Index(uri, "://")
		if i <= 0 {
			return "", ""
		}
		rest := uri[i+3:]
		j := strings.IndexAny(rest, "/?#")
		if j < 0 {
			return "/", ""
		}
		uri = rest[j:]
		if uri[0] != '/' {
			_, query = splitPathQuery(uri)
			return "/", query
		}
	}
	return splitPathQuery(uri)
}

func splitPathQuery(s string) (path, query string) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	path, query, _ = strings.Cut(s, "?")
	return path, query
}

// unquotePath percent-decodes a raw path to raw bytes, like Python's
// urllib.parse.unquote_to_bytes (which gunicorn uses): "%XX" with two hex
// digits becomes one byte (so "%2F" is "/"), any other '%' stays literal,
// and '+' is not a space. It allocates only when there is something to
// decode.
func unquotePath(s string) string {
	i := firstEscape(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) - 2)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		}
		b.WriteByte(c)
	}
	return b.String()
}

// firstEscape returns the index of the first valid "%XX" in s, or -1.
func firstEscape(s string) int {
	for i := 0; ; i++ {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			return -1
		}
		i += j
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			return i
		}
	}
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// stripScriptName removes the mount point from the decoded path when the
// path starts with it at a segment boundary ("/app" strips from "/app" and
// "/app/x", not from "/appx"). Otherwise the path is kept whole: a proxy
// that already stripped the prefix sends "/x", and the app should still see
// SCRIPT_NAME "/app" to build its URLs.
func stripScriptName(path, scriptName string) string {
	if strings.HasPrefix(path, scriptName) &&
		(len(path) == len(scriptName) || path[len(scriptName)] == '/') {
		return path[len(scriptName):]
	}
	return path
}

// peerInfo splits r.RemoteAddr into REMOTE_ADDR (no brackets) and
// REMOTE_PORT. A unix-socket peer (the listener's local address is a unix
// address or, with no local address in the context, RemoteAddr is "",
// "@..." or "/...") has REMOTE_ADDR "" and no REMOTE_PORT: it has neither,
// and inventing 127.0.0.1 would make it indistinguishable from a TCP client.
// An IP:port on a unix listener is the client a PROXY protocol header named
// (host/proxyproto.go): that client is the peer, trusted only as its
// address is, not the socket behind the proxy.
func peerInfo(remote string, local net.Addr) (addr, port string, unix bool) {
	if local != nil {
		if n := local.Network(); n == "unix" || n == "unixpacket" {
			if _, err := netip.ParseAddrPort(remote); err != nil {
				return "", "", true
			}
		}
	} else if remote == "" || remote[0] == '@' || remote[0] == '/' {
		return "", "", true
	}
	j := strings.LastIndexByte(remote, ':')
	if j < 0 || !isPort(remote[j+1:]) {
		if ap, err := netip.ParseAddrPort(remote); err == nil && j > 0 {
			// A zero-padded port (found by FuzzBuild): keep the address
			// as written, give the port its plain form.
			addr = strings.TrimSuffix(strings.TrimPrefix(remote[:j], "["), "]")
			return addr, strconv.Itoa(int(ap.Port())), false
		}
		// Not host:port (a custom listener); pass it on as is. It is
		// trusted only if it is a bare IP in the allow list.
		return remote, "", false
	}
	addr, port = remote[:j], remote[j+1:]
	if len(addr) >= 2 && addr[0] == '[' && addr[len(addr)-1] == ']' {
		addr = addr[1 : len(addr)-1]
	}
	return addr, port, false
}

// trustedText reports whether the peer address text is trusted. It is
// parsed only here, when forwarding headers are present.
func trustedText(addr string, allow []netip.Prefix) bool {
	ip, err := netip.ParseAddr(addr)
	return err == nil && trusted(ip, allow)
}

// serverNamePort derives SERVER_NAME and SERVER_PORT from the Host (as
// gunicorn does), the port defaulting by scheme. Without a Host (HTTP/1.0)
// it uses the listener's TCP address, and failing that "localhost".
// IPv6 literals keep their brackets (RFC 3875 §4.1.14).
func serverNamePort(host, scheme string, local net.Addr) (name, port string) {
	if host != "" {
		name, port = splitHost(host)
	}
	if name == "" {
		if ta, ok := local.(*net.TCPAddr); ok && ta != nil {
			ap := ta.AddrPort()
			a := ap.Addr().Unmap().WithZone("")
			if a.Is6() {
				name = "[" + a.String() + "]"
			} else {
				name = a.String()
			}
			if port == "" {
				port = strconv.Itoa(int(ap.Port()))
			}
		} else {
			name = "localhost"
		}
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return name, port
}

// splitHost splits "name:port", "[v6]:port", "[v6]" or "name". A port that
// is not 1-5 digits is dropped (the default applies). An unbracketed value
// with several colons is all name.
func splitHost(h string) (name, port string) {
	if h[0] == '[' {
		j := strings.IndexByte(h, ']')
		if j < 0 {
			return h, ""
		}
		name, rest := h[:j+1], h[j+1:]
		if len(rest) > 1 && rest[0] == ':' && isPort(rest[1:]) {
			port = rest[1:]
		}
		return name, port
	}
	j := strings.IndexByte(h, ':')
	if j < 0 || strings.LastIndexByte(h, ':') != j {
		return h, ""
	}
	name, port = h[:j], h[j+1:]
	if !isPort(port) {
		port = ""
	}
	return name, port
}

func formatLength(n int64) string {
	if n == 0 {
		return "0"
	}
	return strconv.FormatInt(n, 10) // no allocation below 100
}
