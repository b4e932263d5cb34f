package environ

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Config holds the per-server settings Build needs. It is read-only once
// handed to Build and may be shared by all requests.
type Config struct {
	// ScriptName is the mount point from --root-path: "" or "/prefix", no
	// trailing slash. Pass user input through NormalizeRootPath; Build
	// still refuses to emit "/" (PEP 3333: SCRIPT_NAME is never "/").
	ScriptName string

	// ForwardedAllow lists the peers whose X-Forwarded-* and Forwarded
	// headers are trusted. Unix-socket peers are always trusted (only local
	// processes can reach the socket, and a front proxy is the usual one).
	// Nil or empty means the default, 127.0.0.1/32 and ::1/128.
	// 0.0.0.0/0 with ::/0 means every peer ("*"). A zero netip.Prefix
	// matches no address, so []netip.Prefix{{}} trusts no TCP peer; this is
	// what ParseForwardedAllow("") returns.
	ForwardedAllow []netip.Prefix

	// SecureSchemeHeaders are headers that, from a trusted peer, mean the
	// client used https when they carry the given value (gunicorn's
	// --secure-scheme-headers). X-Forwarded-Proto is always honoured.
	SecureSchemeHeaders []SecureHeader

	// ForwardedPrefix makes a trusted peer's X-Forwarded-Prefix the
	// SCRIPT_NAME (opt-in: most proxies do not set it).
	ForwardedPrefix bool
}

// SecureHeader is one --secure-scheme-headers entry.
type SecureHeader struct {
	Name  string // canonical header name, e.g. "X-Forwarded-Ssl"
	Value string // e.g. "on"
}

// ParseSecureSchemeHeaders parses "X-FORWARDED-SSL=on,X-FORWARDED-PROTO=https".
func ParseSecureSchemeHeaders(s string) ([]SecureHeader, error) {
	var out []SecureHeader
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" || strings.ContainsAny(name, " _:") {
			return nil, fmt.Errorf("%q: want HEADER=value", item)
		}
		out = append(out, SecureHeader{Name: http.CanonicalHeaderKey(name), Value: value})
	}
	return out, nil
}

// defaultForwardedAllow is gunicorn's default --forwarded-allow-ips
// ("127.0.0.1,::1").
var defaultForwardedAllow = []netip.Prefix{
	netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32),
	netip.PrefixFrom(netip.IPv6Loopback(), 128),
}

// NormalizeRootPath turns a --root-path value into the SCRIPT_NAME form:
// "" for "" or "/", otherwise a leading "/" and no trailing "/"
// ("app/" → "/app", "/app//" → "/app"). Surrounding spaces are trimmed.
// It does not percent-decode: the value is compared with the decoded path.
func NormalizeRootPath(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimRight(s, "/")
	if s == "" {
		return ""
	}
	if s[0] != '/' {
		s = "/" + s
	}
	return s
}

// ParseForwardedAllow parses gunicorn's --forwarded-allow-ips syntax: a
// comma-separated list of IP addresses and CIDR prefixes, or "*" for every
// peer. Spaces around items and empty items are ignored. An empty list
// means "trust no TCP peer" (unix-socket peers stay trusted) and is
// returned as a single zero Prefix, which matches nothing, so that it is
// not mistaken for Config's nil default.
func ParseForwardedAllow(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	all := false
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item == "*":
			all = true
			continue
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("bad CIDR %q: %w", item, err)
			}
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				// Peers are compared unmapped, so store the IPv4 form.
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
		default:
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("bad IP address %q: %w", item, err)
			}
			if a.Zone() != "" {
				// Prefix.Contains never matches a zoned address; refuse
				// rather than accept an entry that silently trusts nobody.
				return nil, fmt.Errorf("IPv6 zone not allowed in %q", item)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if all {
		return []netip.Prefix{
			netip.PrefixFrom(netip.IPv4Unspecified(), 0),
			netip.PrefixFrom(netip.IPv6Unspecified(), 0),
		}, nil
	}
	if len(out) == 0 {
		return []netip.Prefix{{}}, nil
	}
	return out, nil
}

// trusted reports whether a peer address may set forwarding headers.
func trusted(a netip.Addr, allow []netip.Prefix) bool {
	if !a.IsValid() {
		return false
	}
	// Compare the plain address: Contains refuses zoned addresses and never
	// matches an IPv4-mapped IPv6 address against an IPv4 prefix.
	a = a.WithZone("").Unmap()
	if len(allow) == 0 {
		allow = defaultForwardedAllow
	}
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
