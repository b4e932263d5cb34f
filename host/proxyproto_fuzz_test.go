package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
)

// Fuzzers for the PROXY protocol parsers (proxyproto.go). Invariants, for
// any input: no panic; an address, when one comes back, is a *net.TCPAddr
// with a valid IP and a port in 0..65535; an error wraps errProxyHeader;
// a v1 line that is accepted starts with "PROXY " and ends in CRLF.

// v2Frame builds a v2 frame: signature, version/command, family, length,
// then addr (the address block) followed by tlvs.
func v2Frame(verCmd, fam byte, addr []byte, tlvs ...[]byte) []byte {
	payload := append([]byte(nil), addr...)
	for _, t := range tlvs {
		payload = append(payload, t...)
	}
	b := append([]byte(nil), proxyV2Signature...)
	b = append(b, verCmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:16], uint16(len(payload)))
	return append(b, payload...)
}

// v2TLV is one type-length-value entry.
func v2TLV(typ byte, val []byte) []byte {
	t := []byte{typ, 0, 0}
	binary.BigEndian.PutUint16(t[1:3], uint16(len(val)))
	return append(t, val...)
}

func v2IPv4Addr() []byte {
	return []byte{
		192, 0, 2, 1, // src
		198, 51, 100, 2, // dst
		0xC3, 0x50, // sport 50000
		0x01, 0xBB, // dport 443
	}
}

func v2IPv6Addr() []byte {
	b := make([]byte, 36)
	copy(b[0:16], net.ParseIP("2001:db8::1").To16())
	copy(b[16:32], net.ParseIP("2001:db8::2").To16())
	binary.BigEndian.PutUint16(b[32:34], 65535)
	binary.BigEndian.PutUint16(b[34:36], 80)
	return b
}

func proxyV1Seeds() []string {
	return []string{
		"PROXY TCP4 192.0.2.1 198.51.100.2 50000 443\r\n",
		"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
		"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
		"PROXY TCP6 2001:db8::1 2001:db8::2 50000 443\r\n",
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
		// malformed
		"PROXY TCP4 192.0.2.1 198.51.100.2 50000 443\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 50000 443",
		"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 050000 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 +1 443\r\n",
		"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
		"PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n",
		"PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n",
		"PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n",
		"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
		"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n",
		"PROXY \r\n",
		"PROXY\r\n",
		"\r\n",
		"",
		"GET / HTTP/1.1\r\n",
		"PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n",
	}
}

func proxyV2Seeds() [][]byte {
	v4, v6 := v2IPv4Addr(), v2IPv6Addr()
	alpn := v2TLV(0x01, []byte("h2"))
	authority := v2TLV(0x02, []byte("example.com"))
	crc := v2TLV(0x03, []byte{1, 2, 3, 4})
	noop := v2TLV(0x04, nil)
	ssl := v2TLV(0x20, append([]byte{0x07, 0, 0, 0, 0}, v2TLV(0x21, []byte("TLSv1.3"))...))
	unixAddr := make([]byte, 216)
	copy(unixAddr, "/run/a.sock")
	copy(unixAddr[108:], "/run/b.sock")
	seeds := [][]byte{
		v2Frame(0x21, 0x11, v4),
		v2Frame(0x21, 0x11, v4, alpn, authority, crc, noop),
		v2Frame(0x21, 0x11, v4, ssl),
		v2Frame(0x21, 0x21, v6),
		v2Frame(0x21, 0x21, v6, alpn, authority, ssl),
		v2Frame(0x20, 0x00, nil),            // LOCAL, UNSPEC
		v2Frame(0x20, 0x11, v4),             // LOCAL with addresses
		v2Frame(0x20, 0x21, v6, authority),  // LOCAL with addresses and a TLV
		v2Frame(0x21, 0x00, nil),            // PROXY, UNSPEC
		v2Frame(0x21, 0x12, v4),             // UDP over IPv4
		v2Frame(0x21, 0x22, v6),             // UDP over IPv6
		v2Frame(0x21, 0x31, unixAddr),       // unix stream
		v2Frame(0x21, 0x32, unixAddr, noop), // unix dgram
		// malformed
		v2Frame(0x21, 0x11, v4[:11]),                // short IPv4 block
		v2Frame(0x21, 0x21, v6[:35]),                // short IPv6 block
		v2Frame(0x21, 0x21, v4),                     // IPv4 block under IPv6 family
		v2Frame(0x11, 0x11, v4),                     // version 1
		v2Frame(0x31, 0x11, v4),                     // version 3
		v2Frame(0x22, 0x11, v4),                     // command 2
		v2Frame(0x2F, 0x11, v4),                     // command 15
		v2Frame(0x21, 0x11, v4, []byte{0x01, 0xFF}), // truncated TLV
		v2Frame(0x21, 0xFF, v4),                     // unknown family
		proxyV2Signature,                            // signature only
		append(append([]byte(nil), proxyV2Signature[:11]...), 0x21, 0x11, 0, 12), // bad signature
		{},
	}
	// length field larger / smaller than the payload
	long := v2Frame(0x21, 0x11, v4)
	binary.BigEndian.PutUint16(long[14:16], 13)
	short := v2Frame(0x21, 0x11, v4)
	binary.BigEndian.PutUint16(short[14:16], 11)
	huge := v2Frame(0x21, 0x11, v4)
	binary.BigEndian.PutUint16(huge[14:16], 0xFFFF)
	return append(seeds, long, short, huge)
}

// checkProxyResult is the shared invariant: an address is a valid
// *net.TCPAddr, an error wraps errProxyHeader, never both.
func checkProxyResult(t *testing.T, addr net.Addr, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, errProxyHeader) {
			t.Fatalf("error %v does not wrap errProxyHeader", err)
		}
		if addr != nil {
			t.Fatalf("both an address (%v) and an error (%v)", addr, err)
		}
		return
	}
	if addr == nil {
		return
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		t.Fatalf("address %#v is a %T, not a *net.TCPAddr", addr, addr)
	}
	if ta == nil {
		t.Fatalf("typed nil *net.TCPAddr")
	}
	if l := len(ta.IP); l != net.IPv4len && l != net.IPv6len {
		t.Fatalf("address %v has an IP of %d bytes", ta, l)
	}
	if ta.Port < 0 || ta.Port > 65535 {
		t.Fatalf("address %v has port %d", ta, ta.Port)
	}
	if ta.Zone != "" {
		t.Fatalf("address %v has a zone", ta)
	}
	if net.ParseIP(ta.IP.String()) == nil {
		t.Fatalf("address %v: IP does not round-trip", ta)
	}
}

func FuzzParseProxyV1(f *testing.F) {
	for _, s := range proxyV1Seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		addr, err := parseProxyV1(line)
		checkProxyResult(t, addr, err)
		if err == nil {
			if !strings.HasPrefix(line, "PROXY ") || !strings.HasSuffix(line, "\r\n") {
				t.Fatalf("accepted %q, which does not start with \"PROXY \" and end in CRLF", line)
			}
		}
	})
}

func FuzzParseProxyV2(f *testing.F) {
	for _, b := range proxyV2Seeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		addr, err := parseProxyV2(frame)
		checkProxyResult(t, addr, err)
		if err == nil && (len(frame) < 16 || !bytes.Equal(frame[:12], proxyV2Signature)) {
			t.Fatalf("accepted a frame without the v2 signature: %q", frame)
		}
	})
}

func TestReadProxyHeaderRequired(t *testing.T) {
	cases := []struct {
		name    string
		stream  string
		wantErr bool
		addr    string
	}{
		{"v1 header", "PROXY TCP4 192.0.2.10 192.0.2.20 56324 443\r\nGET / HTTP/1.1\r\n\r\n", false, "192.0.2.10:56324"},
		{"v1 UNKNOWN is a header", "PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n\r\n", false, ""},
		{"v2 LOCAL is a header", "\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00GET / HTTP/1.1\r\n\r\n", false, ""},
		{"plain HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", true, ""},
		{"a lone CR", "\r\nGET / HTTP/1.1\r\n\r\n", true, ""},
		{"a P that is not PROXY", "POST / HTTP/1.1\r\n\r\n", true, ""},
		{"nothing sent (TCP health check)", "", false, ""},
	}
	for _, c := range cases {
		addr, err := readProxyHeader(bufio.NewReader(strings.NewReader(c.stream)), true)
		if (err != nil) != c.wantErr {
			t.Errorf("%s: err %v, want error %v", c.name, err, c.wantErr)
		}
		got := ""
		if addr != nil {
			got = addr.String()
		}
		if got != c.addr {
			t.Errorf("%s: address %q, want %q", c.name, got, c.addr)
		}
		// auto mode never refuses these
		if _, err := readProxyHeader(bufio.NewReader(strings.NewReader(c.stream)), false); err != nil {
			t.Errorf("%s: auto mode: %v", c.name, err)
		}
	}
}

func FuzzReadProxyHeader(f *testing.F) {
	for _, s := range proxyV1Seeds() {
		f.Add([]byte(s))
		f.Add([]byte(s + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	}
	for _, b := range proxyV2Seeds() {
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), "GET / HTTP/1.1\r\nHost: x\r\n\r\n"...))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("P"))
	f.Add([]byte("PROX"))
	f.Add([]byte("\r\n\r\n\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		addr, err := readProxyHeader(r, false)
		checkProxyResult(t, addr, err)
		// Required mode answers the same, except that a stream that does
		// not start with a header becomes an error.
		addrReq, errReq := readProxyHeader(bufio.NewReader(bytes.NewReader(data)), true)
		switch {
		case err != nil && errReq == nil:
			t.Fatalf("required mode accepted what auto refused (%v): %q", err, data)
		case addr != nil && (errReq != nil || addrReq == nil || addrReq.String() != addr.String()):
			t.Fatalf("required mode: %v, %v; auto: %v for %q", addrReq, errReq, addr, data)
		}
		if err == nil && addr == nil && r.Buffered() > 0 {
			// nothing consumed for a stream that has no header
			if !bytes.HasPrefix(data, []byte("PROXY ")) && !bytes.HasPrefix(data, proxyV2Signature) {
				if rest, _ := r.Peek(r.Buffered()); !bytes.HasPrefix(data, rest) {
					t.Fatalf("bytes consumed from a stream without a PROXY header")
				}
			}
		}
	})
}
