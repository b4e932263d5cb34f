package host

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PROXY protocol (v1 text, v2 binary; HAProxy's spec), for load balancers
// that pass the client address in front of the TCP stream. The header is
// read lazily, on the connection's own goroutine (net/http asks for
// RemoteAddr first thing), so a slow client never blocks Accept.

var proxyV2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ProxyProtocolMode is --proxy-protocol: whether a connection from a
// --proxy-allow-from peer must start with a PROXY header. Peers not
// allowed are always plain HTTP.
type ProxyProtocolMode int

const (
	ProxyProtocolOff ProxyProtocolMode = iota
	// ProxyProtocolAuto reads a header when the connection starts with
	// one (gunicorn's behaviour): health checks that skip it still work.
	ProxyProtocolAuto
	// ProxyProtocolRequired closes an allowed peer's connection that does
	// not start with one, as HAProxy's spec asks ("MUST not try to
	// guess"): a peer that passes client bytes through unchanged
	// (socat, ssh -L) then fails loudly instead of letting its clients
	// send their own header.
	ProxyProtocolRequired
)

func (m ProxyProtocolMode) String() string {
	switch m {
	case ProxyProtocolAuto:
		return "auto"
	case ProxyProtocolRequired:
		return "required"
	}
	return "off"
}

// ParseProxyProtocolMode reads off|auto|required; a bare boolean is
// accepted too (true = auto), as --proxy-protocol was a switch.
func ParseProxyProtocolMode(text string) (ProxyProtocolMode, error) {
	switch strings.ToLower(text) {
	case "off", "false", "0", "no":
		return ProxyProtocolOff, nil
	case "auto", "true", "1", "yes", "on":
		return ProxyProtocolAuto, nil
	case "required", "require":
		return ProxyProtocolRequired, nil
	}
	return ProxyProtocolOff, fmt.Errorf("want off, auto or required")
}

var errProxyHeader = errors.New("bad PROXY protocol header")

type proxyListener struct {
	net.Listener
	required bool // ProxyProtocolRequired
	allow    []netip.Prefix
	timeout  time.Duration // --header-timeout: the header is part of the head
	log      *Logger
}

// acceptProxyProtocol wraps ln so that connections from allowed peers
// start with a PROXY header: they may (auto) or must (required).
func acceptProxyProtocol(ln net.Listener, mode ProxyProtocolMode, allow []netip.Prefix, timeout time.Duration, log *Logger) net.Listener {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &proxyListener{Listener: ln, required: mode == ProxyProtocolRequired, allow: allow, timeout: timeout, log: log}
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, l: l, accepted: time.Now()}, nil
}

type proxyConn struct {
	net.Conn
	l        *proxyListener
	accepted time.Time
	once     sync.Once
	r        *bufio.Reader
	remote   net.Addr
	err      error
}

func (c *proxyConn) init() {
	c.once.Do(func() {
		c.remote = c.Conn.RemoteAddr()
		c.r = bufio.NewReader(c.Conn)
		if !peerAllowed(c.remote, c.l.allow) {
			return // bytes flow on untouched: a PROXY line is then a bad request
		}
		// Counted from accept: a peer that sends nothing, or trickles the
		// header, is cut at --header-timeout like any slow request head.
		_ = c.Conn.SetReadDeadline(c.accepted.Add(c.l.timeout))
		addr, err := readProxyHeader(c.r, c.l.required)
		_ = c.Conn.SetReadDeadline(time.Time{})
		switch {
		case err != nil:
			c.err = err
			c.l.log.Warningf("closing the connection from %s: %v", c.remote, err)
			_ = c.Conn.Close()
		case addr != nil:
			c.remote = addr
		}
	})
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.r.Read(p)
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

// ReadFrom keeps sendfile(2) available through the wrapper.
func (c *proxyConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps the half-close that avoids a reset working through the
// wrapper (see limitedConn.CloseWrite).
func (c *proxyConn) CloseWrite() error { return closeWrite(c.Conn) }

func peerAllowed(a net.Addr, allow []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.Network() == "unix"
	}
	ip := ap.Addr().Unmap()
	for _, p := range allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// readProxyHeader reads a v1 or v2 header if the stream starts with one;
// without one it is an error when required. It returns the client
// address the header names, or nil (no header, or a LOCAL / UNKNOWN one
// that keeps the real peer).
func readProxyHeader(r *bufio.Reader, required bool) (net.Addr, error) {
	addr, plain, err := readProxyHeaderIfAny(r)
	if plain && required {
		return nil, fmt.Errorf("%w: the connection does not start with one (--proxy-protocol=required)", errProxyHeader)
	}
	return addr, err
}

// readProxyHeaderIfAny reads a header if the stream starts with one;
// plain is true when the stream starts with other bytes. A peer that
// sends nothing and closes (a TCP health check) is neither.
func readProxyHeaderIfAny(r *bufio.Reader) (addr net.Addr, plain bool, err error) {
	first, err := r.Peek(1)
	if err != nil {
		if isTimeout(err) {
			return nil, false, fmt.Errorf("%w: nothing sent within the header timeout", errProxyHeader)
		}
		return nil, false, nil // empty connection: let net/http see the EOF
	}
	switch first[0] {
	case 'P':
		head, err := r.Peek(6)
		if err != nil && isTimeout(err) && strings.HasPrefix("PROXY ", string(head)) {
			return nil, false, fmt.Errorf("%w: incomplete header within the header timeout", errProxyHeader)
		}
		if string(head) != "PROXY " {
			return nil, true, nil
		}
		line, err := readLimitedLine(r, 107) // the spec's maximum v1 length
		if err != nil {
			return nil, false, err
		}
		addr, err := parseProxyV1(line)
		return addr, false, err
	case '\r':
		head, err := r.Peek(16)
		if err != nil && isTimeout(err) && bytes.HasPrefix(proxyV2Signature, head) {
			return nil, false, fmt.Errorf("%w: incomplete header within the header timeout", errProxyHeader)
		}
		if len(head) < 16 || !bytes.Equal(head[:12], proxyV2Signature) {
			return nil, true, nil
		}
		n := int(binary.BigEndian.Uint16(head[14:16]))
		if n > 2048 {
			return nil, false, fmt.Errorf("%w: v2 payload of %d bytes", errProxyHeader, n)
		}
		frame := make([]byte, 16+n)
		if _, err := io.ReadFull(r, frame); err != nil {
			return nil, false, fmt.Errorf("%w: truncated v2 header", errProxyHeader)
		}
		addr, err := parseProxyV2(frame)
		return addr, false, err
	}
	return nil, true, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func readLimitedLine(r *bufio.Reader, max int) (string, error) {
	var b strings.Builder
	for b.Len() < max {
		c, err := r.ReadByte()
		if err != nil {
			return "", fmt.Errorf("%w: truncated v1 header", errProxyHeader)
		}
		b.WriteByte(c)
		if c == '\n' {
			return b.String(), nil
		}
	}
	return "", fmt.Errorf("%w: v1 header longer than %d bytes", errProxyHeader, max)
}

// parseProxyV1 parses "PROXY TCP4 src dst sport dport\r\n".
func parseProxyV1(line string) (net.Addr, error) {
	body, ok := strings.CutSuffix(line, "\r\n")
	if !ok {
		return nil, fmt.Errorf("%w: v1 line does not end in CRLF", errProxyHeader)
	}
	f := strings.Split(body, " ")
	if len(f) >= 2 && f[0] == "PROXY" && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || f[0] != "PROXY" || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: %q", errProxyHeader, body)
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sport, err3 := parsePort(f[4])
	_, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("%w: %q", errProxyHeader, body)
	}
	if (f[1] == "TCP4") != (src.Is4() && dst.Is4()) || src.Zone() != "" || dst.Zone() != "" {
		return nil, fmt.Errorf("%w: addresses do not match %s", errProxyHeader, f[1])
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, sport)), nil
}

// parsePort accepts 0..65535 written without leading zeros, as the spec says.
func parsePort(s string) (uint16, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, errProxyHeader
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err
}

// parseProxyV2 parses a whole v2 frame (16-byte header + payload).
func parseProxyV2(frame []byte) (net.Addr, error) {
	if len(frame) < 16 || !bytes.Equal(frame[:12], proxyV2Signature) {
		return nil, fmt.Errorf("%w: no v2 signature", errProxyHeader)
	}
	verCmd, fam := frame[12], frame[13]
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("%w: v2 version %d", errProxyHeader, verCmd>>4)
	}
	payload := frame[16:]
	if int(binary.BigEndian.Uint16(frame[14:16])) != len(payload) {
		return nil, fmt.Errorf("%w: v2 length mismatch", errProxyHeader)
	}
	switch verCmd & 0xF {
	case 0: // LOCAL: the proxy's own connection (health check)
		return nil, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w: v2 command %d", errProxyHeader, verCmd&0xF)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if len(payload) < 12 {
			return nil, fmt.Errorf("%w: short v2 IPv4 addresses", errProxyHeader)
		}
		src := netip.AddrFrom4([4]byte(payload[0:4]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, binary.BigEndian.Uint16(payload[8:10]))), nil
	case 0x21: // TCP over IPv6
		if len(payload) < 36 {
			return nil, fmt.Errorf("%w: short v2 IPv6 addresses", errProxyHeader)
		}
		src := netip.AddrFrom16([16]byte(payload[0:16]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, binary.BigEndian.Uint16(payload[32:34]))), nil
	}
	return nil, nil // UNSPEC, UDP or unix: keep the real peer
}
