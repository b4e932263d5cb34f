package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bind forms (--bind): HOST:PORT, [IPv6]:PORT, unix:/path, fd://N. When
// systemd passes sockets (LISTEN_PID is this process, LISTEN_FDS=n), those
// are used instead, as gunicorn does.

// listenOptions are the settings that shape every listener.
type listenOptions struct {
	backlog int         // listen(2) backlog for TCP and unix sockets
	umask   os.FileMode // unix socket file mode is 0777 &^ umask
}

// listenAll opens every bind, or takes systemd's sockets when present.
func listenAll(binds []string, opts listenOptions, logger *Logger) ([]net.Listener, error) {
	if lns, ok, err := systemdListeners(); ok || err != nil {
		if err == nil && logger != nil {
			logger.Infof("Using %d socket(s) from systemd socket activation; --bind is ignored", len(lns))
		}
		return lns, err
	}
	var listeners []net.Listener
	for _, bind := range binds {
		ln, err := listenOne(bind, opts)
		if err != nil {
			closeAll(listeners)
			return nil, err
		}
		listeners = append(listeners, ln)
	}
	return listeners, nil
}

func listenOne(bind string, opts listenOptions) (net.Listener, error) {
	switch {
	case strings.HasPrefix(bind, "unix:"):
		return listenUnix(strings.TrimPrefix(bind, "unix:"), opts)
	case strings.HasPrefix(bind, "fd://"):
		fd, err := strconv.Atoi(strings.TrimPrefix(bind, "fd://"))
		if err != nil || fd < 0 {
			return nil, &ConfigError{fmt.Errorf("--bind %s: fd://N needs a descriptor number", bind)}
		}
		return fileListener(fd, bind)
	}
	_, port, err := net.SplitHostPort(bind)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("--bind %s: want HOST:PORT, [IPv6]:PORT, unix:/path or fd://N", bind)}
	}
	// A number out of range is a wrong setting (exit 2), not a failure to
	// listen; a named port ("http") is left to ResolveTCPAddr.
	if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
		return nil, &ConfigError{fmt.Errorf("--bind %s: port %s is not between 0 and 65535", bind, port)}
	}
	ln, err := listenTCP(bind, opts.backlog)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, addressInUseError(bind)
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, lowPortError(bind)
		}
		return nil, fmt.Errorf("listen on %s: %w", bind, err)
	}
	return ln, nil
}

// listenTCP is net.Listen with a chosen backlog: Go always passes the
// kernel's somaxconn, so the socket is made by hand.
func listenTCP(addr string, backlog int) (net.Listener, error) {
	tcpAddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	var family int
	var sa syscall.Sockaddr
	v6only := false
	switch ip := tcpAddr.IP; {
	case ip == nil || (ip.IsUnspecified() && ip.To4() == nil):
		// ":PORT" and "[::]:PORT": every address, IPv4 included.
		family, sa = syscall.AF_INET6, &syscall.SockaddrInet6{Port: tcpAddr.Port}
	case ip.To4() != nil:
		a := &syscall.SockaddrInet4{Port: tcpAddr.Port}
		copy(a.Addr[:], ip.To4())
		family, sa = syscall.AF_INET, a
	default:
		a := &syscall.SockaddrInet6{Port: tcpAddr.Port}
		copy(a.Addr[:], ip.To16())
		family, sa, v6only = syscall.AF_INET6, a, true
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "tcp-listener")
	defer f.Close() // FileListener keeps its own duplicate
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if v6only {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 1)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	if err := syscall.Listen(fd, backlogOrDefault(backlog)); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	return net.FileListener(f)
}

func backlogOrDefault(n int) int {
	if n > 0 {
		return n
	}
	return syscall.SOMAXCONN
}

// listenUnix binds a unix socket, replacing a stale socket file but never
// one a live server still listens on.
func listenUnix(path string, opts listenOptions) (net.Listener, error) {
	if path == "" {
		return nil, &ConfigError{errors.New("--bind unix: needs a path, e.g. unix:/run/app.sock")}
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen on unix:%s: the path exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on unix:%s: address already in use (a server is listening there)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
		}
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), "unix-listener")
	defer f.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		return nil, fmt.Errorf("listen on unix:%s: %w", path, os.NewSyscallError("bind", err))
	}
	if err := os.Chmod(path, 0o777&^opts.umask); err != nil {
		return nil, fmt.Errorf("chmod socket %s: %w", path, err)
	}
	if err := syscall.Listen(fd, backlogOrDefault(opts.backlog)); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, err
	}
	// We made the file, so closing the listener removes it.
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}

// fileListener takes over an inherited listening socket.
func fileListener(fd int, name string) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, &ConfigError{fmt.Errorf("%s: no such file descriptor", name)}
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("%s: not a listening socket: %w", name, err)}
	}
	if u, ok := ln.(*net.UnixListener); ok {
		u.SetUnlinkOnClose(false) // not ours to remove
	}
	return ln, nil
}

// systemdListeners returns the sockets of systemd socket activation
// (sd_listen_fds): fds 3.. when LISTEN_PID names this process.
func systemdListeners() ([]net.Listener, bool, error) {
	pid, count := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	if pid == "" || count == "" || pid != strconv.Itoa(os.Getpid()) {
		return nil, false, nil
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return nil, true, &ConfigError{fmt.Errorf("LISTEN_FDS=%q: want a positive number", count)}
	}
	// Children (a worker, or a process the app starts) must not take them.
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := fileListener(3+i, fmt.Sprintf("systemd socket %d", 3+i))
		if err != nil {
			closeAll(lns)
			return nil, true, err
		}
		lns = append(lns, ln)
	}
	return lns, true, nil
}

// listenerFile duplicates a listener's socket for a worker to inherit.
func listenerFile(ln net.Listener) (*os.File, error) {
	switch l := ln.(type) {
	case *net.TCPListener:
		return l.File()
	case *net.UnixListener:
		return l.File()
	}
	return nil, fmt.Errorf("cannot pass a %T to a worker", ln)
}

// listenURL is how a listener is named in "Listening at:".
func listenURL(ln net.Listener, tls bool) string {
	switch {
	case ln.Addr().Network() == "unix":
		return "unix:" + ln.Addr().String()
	case tls:
		return "https://" + ln.Addr().String()
	}
	return "http://" + ln.Addr().String()
}
