package main

// The network front end to end: every bind form (TCP, IPv6, unix sockets,
// fd://N, systemd socket activation), TLS with HTTP/2, client certificates
// and minimum versions, h2c, gunicorn's request limits, the timeouts
// (slowloris, stalled bodies, idle keep-alive, clients that stop reading),
// --max-connections, trusted proxy headers and the PROXY protocol.
//
// The app is testdata/apps/front_mux.py: it records every call (GET /calls)
// so that a request the front refuses can be shown never to reach Python,
// and routes /upload, /stream…, /err/… and the rest (environ_dump).
//
// These tests start gowsgi themselves (startFront) instead of startServer:
// they choose their own --bind forms, pass inherited sockets and read every
// "Listening at:" line (http://, https:// or unix:/path).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const frontApp = "front_mux:application"

// frontOptions say how to start one gowsgi for a front test.
type frontOptions struct {
	args    []string   // flags, every -b included (startFront adds none)
	env     []string   // extra KEY=VALUE
	files   []*os.File // inherited: files[i] becomes fd 3+i
	systemd bool       // start through sh so that LISTEN_PID=$$ is gowsgi's pid
	listens int        // "Listening at:" lines to wait for (default 1)
}

// frontServer is a running gowsgi with the addresses it logged.
type frontServer struct {
	*testServer
	listens []string    // as logged: http://h:p, https://h:p, unix:/path
	tlsConf *tls.Config // for calls() on a TLS server
}

// startFront starts gowsgi serving front_mux from testdata/apps and waits
// for o.listens "Listening at:" lines. It is stopped when the test ends.
func startFront(t *testing.T, o frontOptions) *frontServer {
	t.Helper()
	requireVenv(t)
	want := o.listens
	if want == 0 {
		want = 1
	}
	args := []string{"run", "--virtualenv", testVenv, "--chdir", filepath.Join(repoRoot, "testdata", "apps")}
	args = append(args, o.args...)
	args = append(args, frontApp)
	var cmd *exec.Cmd
	if o.systemd {
		cmd = exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, gowsgiBin}, args...)...)
	} else {
		cmd = exec.Command(gowsgiBin, args...)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "GOWSGI_")
	})
	cmd.Env = append(env, o.env...)
	cmd.ExtraFiles = o.files
	s, listens := launchServer(t, cmd, want)
	fs := &frontServer{testServer: s, listens: listens}
	fs.addr = frontHostPort(fs.listens[0])
	fs.url = "http://" + fs.addr
	return fs
}

// pick returns the logged address that starts with prefix.
func (s *frontServer) pick(t *testing.T, prefix string) string {
	t.Helper()
	for _, l := range s.listens {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("no Listening line starts with %s: %v", prefix, s.listens)
	return ""
}

// frontHostPort turns a logged address into what net.Dial takes.
func frontHostPort(listen string) string {
	for _, p := range []string{"http://", "https://", "unix:"} {
		if strings.HasPrefix(listen, p) {
			return strings.TrimPrefix(listen, p)
		}
	}
	return listen
}

// frontTransport returns a transport for a logged address: a unix socket
// is dialled whatever the URL's host; https uses tlsConf (HTTP/2 allowed).
func frontTransport(listen string, tlsConf *tls.Config) (*http.Transport, string) {
	tr := &http.Transport{DisableKeepAlives: false, ForceAttemptHTTP2: true, TLSClientConfig: tlsConf}
	switch {
	case strings.HasPrefix(listen, "unix:"):
		path := strings.TrimPrefix(listen, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		return tr, "http://unix"
	case strings.HasPrefix(listen, "https://"):
		return tr, listen
	default:
		return tr, "http://" + frontHostPort(listen)
	}
}

// frontClient is a client for a logged address, closed with the test.
func frontClient(t *testing.T, listen string, tlsConf *tls.Config) (*http.Client, string) {
	tr, base := frontTransport(listen, tlsConf)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, base
}

// frontDo sends one request; header pairs "Host" set the request's Host.
func frontDo(c *http.Client, method, url string, body io.Reader, header ...string) (*http.Response, []byte, error) {
	req, err := newTestRequest(method, url, body, header...)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// frontEnv GETs url and decodes environ_dump's JSON (status 200 required).
func frontEnv(t *testing.T, s *frontServer, c *http.Client, url string, header ...string) (map[string]any, *http.Response) {
	t.Helper()
	resp, body, err := frontDo(c, http.MethodGet, url, nil, header...)
	if err != nil {
		t.Fatalf("GET %s: %v\nserver log:\n%s", url, err, s.stderr.String())
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d, want 200; body %.300q\nserver log:\n%s", url, resp.StatusCode, body, s.stderr.String())
	}
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("GET %s: %v: %.300s", url, err, body)
	}
	return env, resp
}

// calls returns the PATH_INFOs front_mux has been called with, through the
// first address (plain HTTP or unix).
func (s *frontServer) calls(t *testing.T) []string {
	t.Helper()
	c, base := frontClient(t, s.listens[0], s.tlsConf)
	resp, body, err := frontDo(c, http.MethodGet, base+"/calls", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /calls: %v %v %s", err, resp, body)
	}
	var calls []string
	if err := json.Unmarshal(body, &calls); err != nil {
		t.Fatalf("/calls: %v: %s", err, body)
	}
	return calls
}

// expectNotCalled fails for every call whose path starts with prefix.
func (s *frontServer) expectNotCalled(t *testing.T, prefix string) {
	t.Helper()
	for _, c := range s.calls(t) {
		if strings.HasPrefix(c, prefix) {
			t.Errorf("the app was called for %q, which the front must refuse", c)
		}
	}
}

// frontDial opens a raw connection, closed when the test ends.
func frontDial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// frontRaw writes raw bytes on a fresh connection and reads one response.
// status is -1 when the server closed without answering.
func frontRaw(t *testing.T, addr, raw string) (status int, body []byte, resp *http.Response) {
	t.Helper()
	conn := frontDial(t, "tcp", addr)
	if _, err := io.WriteString(conn, raw); err != nil {
		// The server may have answered and closed already: read it anyway.
		t.Logf("write: %v", err)
	}
	return frontReadResponse(t, conn, bufio.NewReader(conn), 10*time.Second)
}

func frontReadResponse(t *testing.T, conn net.Conn, r *bufio.Reader, within time.Duration) (int, []byte, *http.Response) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no response within %s", within)
		}
		return -1, nil, nil
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, body, resp
}

// frontWaitClosed reads until the peer closes (EOF or reset) and returns
// how long that took and what was read; ok is false if it stayed open.
func frontWaitClosed(conn net.Conn, r io.Reader, within time.Duration) (after time.Duration, got []byte, ok bool) {
	start := time.Now()
	conn.SetReadDeadline(start.Add(within))
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return time.Since(start), got, false
			}
			return time.Since(start), got, true
		}
	}
}

func frontHaveIPv6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// frontSockDir is a short directory for unix sockets (sun_path is 108 bytes).
func frontSockDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "gwf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// frontRunUntilExit runs gowsgi that is expected to fail and returns its
// exit code and combined output; it is killed after within.
func frontRunUntilExit(t *testing.T, within time.Duration, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(gowsgiBin, args...)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "GOWSGI_")
	})
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{}) // for the watcher below: done's one value is not its to take
	go func() { done <- cmd.Wait(); close(exited) }()
	// A server that starts listening has accepted the setting: stop it.
	listening := make(chan struct{})
	go func() {
		for {
			select {
			case <-exited:
				return
			case <-time.After(50 * time.Millisecond):
				if strings.Contains(out.String(), "Listening at:") {
					close(listening)
					return
				}
			}
		}
	}()
	select {
	case err := <-done:
		done <- err
		return cmd.ProcessState.ExitCode(), out.String()
	case <-listening:
	case <-time.After(within):
	}
	// Still running (listening, or stuck): stop it, by force if need be.
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return -1, out.String()
}

// ---------------------------------------------------------------------
// Bind forms

func TestFrontBindTCP(t *testing.T) {
	t.Parallel()
	t.Run("IPv4", func(t *testing.T) {
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0"}})
		if !strings.HasPrefix(s.listens[0], "http://127.0.0.1:") {
			t.Errorf("Listening at: %s, want http://127.0.0.1:PORT", s.listens[0])
		}
		c, base := frontClient(t, s.listens[0], nil)
		env, _ := frontEnv(t, s, c, base+"/v4")
		_, port, _ := net.SplitHostPort(s.addr)
		if env["REMOTE_ADDR"] != "127.0.0.1" || env["SERVER_PORT"] != port {
			t.Errorf("REMOTE_ADDR %v SERVER_PORT %v, want 127.0.0.1 and %s", env["REMOTE_ADDR"], env["SERVER_PORT"], port)
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		if !frontHaveIPv6() {
			t.Skip("no IPv6 loopback here")
		}
		s := startFront(t, frontOptions{args: []string{"-b", "[::1]:0"}})
		if !strings.HasPrefix(s.listens[0], "http://[::1]:") {
			t.Errorf("Listening at: %s, want http://[::1]:PORT", s.listens[0])
		}
		c, base := frontClient(t, s.listens[0], nil)
		env, _ := frontEnv(t, s, c, base+"/v6")
		if env["REMOTE_ADDR"] != "::1" {
			t.Errorf("REMOTE_ADDR %v, want ::1", env["REMOTE_ADDR"])
		}
	})
}

func TestFrontBindUnix(t *testing.T) {
	t.Parallel()
	dir := frontSockDir(t)
	checkMode := func(t *testing.T, path string, want os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want a socket with %v", path, fi.Mode(), want)
		}
	}
	serves := func(t *testing.T, s *frontServer, listen, path string) {
		t.Helper()
		c, base := frontClient(t, listen, nil)
		env, _ := frontEnv(t, s, c, base+path)
		if env["PATH_INFO"] != path {
			t.Errorf("PATH_INFO %v, want %s", env["PATH_INFO"], path)
		}
	}

	t.Run("umask 0o077", func(t *testing.T) {
		path := filepath.Join(dir, "a.sock")
		s := startFront(t, frontOptions{args: []string{"-b", "unix:" + path, "--umask", "0o077"}})
		if s.listens[0] != "unix:"+path {
			t.Errorf("Listening at: %s, want unix:%s", s.listens[0], path)
		}
		checkMode(t, path, 0o700)
		serves(t, s, s.listens[0], "/over-unix")
	})

	t.Run("stale socket file replaced, umask 027", func(t *testing.T) {
		path := filepath.Join(dir, "stale.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		ln.Close() // the file stays, with nobody listening: stale
		if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Fatalf("no stale socket file: %v %v", fi, err)
		}
		s := startFront(t, frontOptions{args: []string{"-b", "unix:" + path, "--umask", "027"}})
		checkMode(t, path, 0o750)
		serves(t, s, "unix:"+path, "/stale-replaced")
	})

	t.Run("live socket is an error naming the path", func(t *testing.T) {
		path := filepath.Join(dir, "live.sock")
		first := startFront(t, frontOptions{args: []string{"-b", "unix:" + path}})
		code, out := frontRunUntilExit(t, 30*time.Second, "run", "--virtualenv", testVenv,
			"--chdir", filepath.Join(repoRoot, "testdata", "apps"), "-b", "unix:"+path, frontApp)
		if code <= 0 || !strings.Contains(out, path) {
			t.Errorf("second server on a live socket: exit %d (want non-zero) and output naming %s:\n%s", code, path, out)
		}
		// The first server still owns the socket.
		serves(t, first, "unix:"+path, "/still-mine")
	})
}

// frontInheritedListener opens a TCP listener and returns a dup of its
// socket for ExtraFiles (closed when the test ends) and its address.
func frontInheritedListener(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // the dup keeps the socket listening
	t.Cleanup(func() { f.Close() })
	return f, addr
}

func TestFrontBindInherited(t *testing.T) {
	t.Parallel()
	t.Run("fd://3", func(t *testing.T) {
		f, addr := frontInheritedListener(t)
		s := startFront(t, frontOptions{args: []string{"-b", "fd://3"}, files: []*os.File{f}})
		f.Close()
		if s.addr != addr {
			t.Errorf("Listening at: %s, want the inherited %s", s.listens[0], addr)
		}
		c, _ := frontClient(t, "http://"+addr, nil)
		env, _ := frontEnv(t, s, c, "http://"+addr+"/from-fd")
		if env["PATH_INFO"] != "/from-fd" {
			t.Errorf("PATH_INFO %v", env["PATH_INFO"])
		}
	})
	t.Run("systemd LISTEN_PID and LISTEN_FDS", func(t *testing.T) {
		f, addr := frontInheritedListener(t)
		// No --bind: the systemd sockets replace the default one.
		s := startFront(t, frontOptions{files: []*os.File{f}, systemd: true, env: []string{"LISTEN_FDS=1"}})
		f.Close()
		if s.addr != addr {
			t.Errorf("Listening at: %s, want the inherited %s", s.listens[0], addr)
		}
		c, _ := frontClient(t, "http://"+addr, nil)
		frontEnv(t, s, c, "http://"+addr+"/from-systemd")
		time.Sleep(200 * time.Millisecond)
		if n := strings.Count(s.stderr.String(), "Listening at:"); n != 1 {
			t.Errorf("%d Listening lines, want only the systemd socket:\n%s", n, s.stderr.String())
		}
	})
	t.Run("LISTEN_PID of another process is ignored", func(t *testing.T) {
		f, addr := frontInheritedListener(t)
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0"}, files: []*os.File{f}, env: []string{"LISTEN_FDS=1", "LISTEN_PID=1"}})
		f.Close()
		if s.addr == addr {
			t.Errorf("served on fd 3 although LISTEN_PID=1 is not gowsgi")
		}
		c, base := frontClient(t, s.listens[0], nil)
		frontEnv(t, s, c, base+"/own-bind")
	})
}

// A master removes the unix socket file it made when it exits, and leaves
// one it inherited (fd://, systemd) to its owner, who still listens there.
func TestFrontMasterRemovesOnlyItsOwnSocketFile(t *testing.T) {
	t.Parallel()
	dir := frontSockDir(t)
	own := filepath.Join(dir, "own.sock")
	// Each server answers once before it is stopped, so that the master
	// is past its start-up and the TERM is the graceful stop.
	answer := func(s *frontServer) {
		c, base := frontClient(t, s.listens[0], nil)
		frontEnv(t, s, c, base+"/ready")
	}
	s := startFront(t, frontOptions{args: []string{"--workers", "2", "-b", "unix:" + own}})
	answer(s)
	s.stop(t)
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Errorf("%s left behind after the master exited: %v", own, err)
	}

	inherited := filepath.Join(dir, "inherited.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: inherited, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	s = startFront(t, frontOptions{args: []string{"--workers", "2", "-b", "fd://3"}, files: []*os.File{f}})
	f.Close()
	answer(s)
	s.stop(t)
	if fi, err := os.Stat(inherited); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the inherited socket file %s was removed by the master: %v", inherited, err)
	}
}

func TestFrontSeveralBinds(t *testing.T) {
	t.Parallel()
	dir := frontSockDir(t)
	t.Run("flags", func(t *testing.T) {
		binds := []string{"-b", "127.0.0.1:0", "-b", "unix:" + filepath.Join(dir, "m.sock")}
		if frontHaveIPv6() {
			binds = append(binds, "-b", "[::1]:0")
		}
		s := startFront(t, frontOptions{args: binds, listens: len(binds) / 2})
		for i, l := range s.listens {
			c, base := frontClient(t, l, nil)
			path := fmt.Sprintf("/bind-%d", i)
			env, _ := frontEnv(t, s, c, base+path)
			if env["PATH_INFO"] != path {
				t.Errorf("%s: PATH_INFO %v", l, env["PATH_INFO"])
			}
		}
	})
	t.Run("GOWSGI_BIND list", func(t *testing.T) {
		sock := filepath.Join(dir, "e.sock")
		s := startFront(t, frontOptions{env: []string{"GOWSGI_BIND=127.0.0.1:0,unix:" + sock}, listens: 2})
		if !slices.Contains(s.listens, "unix:"+sock) {
			t.Errorf("listens %v, want unix:%s among them", s.listens, sock)
		}
		for _, l := range s.listens {
			c, base := frontClient(t, l, nil)
			frontEnv(t, s, c, base+"/env-bind")
		}
	})
}

// ---------------------------------------------------------------------
// TLS, HTTP/2, h2c

type frontPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client, rogue             tls.Certificate // signed by the CA / by another CA
}

func frontKeyPair(t *testing.T, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func frontTemplate(cn string, ca bool, usage x509.ExtKeyUsage) *x509.Certificate {
	serial, _ := crand.Int(crand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"gowsgi tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	return tmpl
}

// newFrontPKI writes a CA, a server certificate for 127.0.0.1/::1/localhost
// and its key to a temporary directory, and makes a good and a rogue
// client certificate.
func newFrontPKI(t *testing.T) *frontPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caPEM, _ := frontKeyPair(t, frontTemplate("gowsgi test CA", true, 0), nil, nil)
	srvTmpl := frontTemplate("127.0.0.1", false, x509.ExtKeyUsageServerAuth)
	srvTmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	srvTmpl.DNSNames = []string{"localhost"}
	_, _, srvPEM, srvKey := frontKeyPair(t, srvTmpl, ca, caKey)
	_, _, cliPEM, cliKey := frontKeyPair(t, frontTemplate("good client", false, x509.ExtKeyUsageClientAuth), ca, caKey)
	other, otherKey, _, _ := frontKeyPair(t, frontTemplate("other CA", true, 0), nil, nil)
	_, _, roguePEM, rogueKey := frontKeyPair(t, frontTemplate("rogue client", false, x509.ExtKeyUsageClientAuth), other, otherKey)

	p := &frontPKI{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"),
		keyFile:  filepath.Join(dir, "server.key"),
		pool:     x509.NewCertPool(),
	}
	for name, data := range map[string][]byte{p.caFile: caPEM, p.certFile: srvPEM, p.keyFile: srvKey} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p.pool.AddCert(ca)
	var err error
	if p.client, err = tls.X509KeyPair(cliPEM, cliKey); err != nil {
		t.Fatal(err)
	}
	if p.rogue, err = tls.X509KeyPair(roguePEM, rogueKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsConf is a client config trusting the test CA. cert, when not nil, is
// sent whatever CAs the server asks for (Go would otherwise keep a cert
// from another CA to itself).
func (p *frontPKI) tlsConf(cert *tls.Certificate, maxVersion uint16) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MaxVersion: maxVersion}
	if cert != nil {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c
}

// httpsURL is the https base URL of a server's first address.
func (s *frontServer) httpsURL() string { return "https://" + s.addr }

func TestFrontTLS(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile}})
	base := s.httpsURL()
	c, _ := frontClient(t, base, p.tlsConf(nil, 0))

	t.Run("HTTP/2 by ALPN", func(t *testing.T) {
		env, resp := frontEnv(t, s, c, base+"/h2")
		if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
			t.Errorf("client got %s, ALPN %q; want HTTP/2 over h2", resp.Proto, resp.TLS.NegotiatedProtocol)
		}
		if env["SERVER_PROTOCOL"] != "HTTP/2.0" || env["wsgi.url_scheme"] != "https" {
			t.Errorf("SERVER_PROTOCOL %v wsgi.url_scheme %v, want HTTP/2.0 and https", env["SERVER_PROTOCOL"], env["wsgi.url_scheme"])
		}
	})

	t.Run("HTTP/2 streams a generator chunk by chunk", func(t *testing.T) {
		start := time.Now()
		resp, err := c.Get(base + "/stream?chunks=4&delay=0.3&size=1000")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := make([]byte, 1000)
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		firstAt := time.Since(start)
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		total := time.Since(start)
		want := strings.Repeat("a", 1000) + strings.Repeat("b", 1000) + strings.Repeat("c", 1000) + strings.Repeat("d", 1000)
		if resp.ProtoMajor != 2 || string(first)+string(rest) != want {
			t.Errorf("%s: body of %d bytes, want %d", resp.Proto, len(first)+len(rest), len(want))
		}
		if firstAt > 600*time.Millisecond || total < 800*time.Millisecond {
			t.Errorf("first chunk after %s, whole body after %s: not streamed", firstAt, total)
		}
	})

	t.Run("HTTP/2 streams back-to-back chunks whole, and a burst before a pause at once", func(t *testing.T) {
		// Quick chunks go through the stream sender goroutine
		// (host/stream.go), which writes to net/http's HTTP/2 writer.
		resp, body, err := frontDo(c, http.MethodGet, base+"/stream?chunks=200&size=1000", nil)
		if err != nil || resp.ProtoMajor != 2 || len(body) != 200*1000 {
			t.Fatalf("200 quick chunks: %v, %d bytes", err, len(body))
		}
		for i := 0; i < 200; i++ {
			if want := byte('a' + i%26); body[i*1000] != want || body[i*1000+999] != want {
				t.Fatalf("chunk %d is %q...%q, want %q", i, body[i*1000], body[i*1000+999], want)
			}
		}
		start := time.Now()
		resp2, err := c.Get(base + "/stream/burst-then-wait")
		if err != nil {
			t.Fatal(err)
		}
		defer resp2.Body.Close()
		burst := make([]byte, 2000)
		if _, err := io.ReadFull(resp2.Body, burst); err != nil {
			t.Fatal(err)
		}
		if at := time.Since(start); at > time.Second {
			t.Errorf("the burst before the app's 2 s pause arrived after %s", at)
		}
		if rest, err := io.ReadAll(resp2.Body); err != nil || string(rest) != "last\n" {
			t.Errorf("after the burst: %q %v", rest, err)
		}
	})

	t.Run("HTTP/2 upload of 10 MB", func(t *testing.T) {
		body := make([]byte, 10<<20)
		mrand.New(mrand.NewSource(1)).Read(body)
		sum := sha256.Sum256(body)
		resp, data, err := frontDo(c, http.MethodPost, base+"/upload", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%v\n%s", err, s.stderr.String())
		}
		var got map[string]any
		if err := json.Unmarshal(data, &got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d: %v %.300s", resp.StatusCode, err, data)
		}
		if resp.ProtoMajor != 2 || got["SERVER_PROTOCOL"] != "HTTP/2.0" || got["body_len"] != float64(len(body)) || got["body_sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %v; want body_len %d sha %x", resp.Proto, got, len(body), sum)
		}
	})

	t.Run("HTTP/2 upload of unknown length", func(t *testing.T) {
		body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		sum := sha256.Sum256(body)
		resp, data, err := frontDo(c, http.MethodPost, base+"/upload", io.MultiReader(bytes.NewReader(body)))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		json.Unmarshal(data, &got)
		if resp.StatusCode != 200 || got["body_len"] != float64(len(body)) || got["body_sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("status %d: %v; want body_len %d", resp.StatusCode, got, len(body))
		}
	})

	t.Run("HTTP/1.1 client over TLS", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: p.tlsConf(nil, 0), Protocols: new(http.Protocols)}
		tr.Protocols.SetHTTP1(true)
		defer tr.CloseIdleConnections()
		env, resp := frontEnv(t, s, &http.Client{Transport: tr, Timeout: 30 * time.Second}, base+"/h1")
		if resp.ProtoMajor != 1 || env["SERVER_PROTOCOL"] != "HTTP/1.1" || env["wsgi.url_scheme"] != "https" {
			t.Errorf("client %s, SERVER_PROTOCOL %v, scheme %v", resp.Proto, env["SERVER_PROTOCOL"], env["wsgi.url_scheme"])
		}
	})

	t.Run("TLS 1.2 client accepted by default", func(t *testing.T) {
		c12, _ := frontClient(t, base, p.tlsConf(nil, tls.VersionTLS12))
		_, resp := frontEnv(t, s, c12, base+"/tls12")
		if resp.TLS.Version != tls.VersionTLS12 {
			t.Errorf("TLS version %x", resp.TLS.Version)
		}
	})
}

func TestFrontTLSHTTP1Only(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile, "--http", "1"}})
	c, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
	env, resp := frontEnv(t, s, c, s.httpsURL()+"/only-h1")
	if resp.ProtoMajor != 1 || resp.TLS.NegotiatedProtocol == "h2" {
		t.Errorf("--http 1: client got %s (ALPN %q), want HTTP/1.1", resp.Proto, resp.TLS.NegotiatedProtocol)
	}
	if env["SERVER_PROTOCOL"] != "HTTP/1.1" || env["wsgi.url_scheme"] != "https" {
		t.Errorf("SERVER_PROTOCOL %v scheme %v", env["SERVER_PROTOCOL"], env["wsgi.url_scheme"])
	}
}

// frontH2CClient speaks cleartext HTTP/2 with prior knowledge only.
func frontH2CClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestFrontH2C(t *testing.T) {
	t.Parallel()
	t.Run("with --h2c", func(t *testing.T) {
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--h2c"}})
		env, resp := frontEnv(t, s, frontH2CClient(t), s.url+"/h2c")
		if resp.ProtoMajor != 2 || env["SERVER_PROTOCOL"] != "HTTP/2.0" || env["wsgi.url_scheme"] != "http" {
			t.Errorf("client %s, SERVER_PROTOCOL %v, scheme %v; want HTTP/2.0 and http", resp.Proto, env["SERVER_PROTOCOL"], env["wsgi.url_scheme"])
		}
		// HTTP/1.1 clients are still served.
		c, _ := frontClient(t, s.listens[0], nil)
		env, resp = frontEnv(t, s, c, s.url+"/h1-beside-h2c")
		if resp.ProtoMajor != 1 || env["SERVER_PROTOCOL"] != "HTTP/1.1" {
			t.Errorf("HTTP/1.1 client on an --h2c server: %s %v", resp.Proto, env["SERVER_PROTOCOL"])
		}
	})
	t.Run("without --h2c", func(t *testing.T) {
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0"}})
		resp, body, err := frontDo(frontH2CClient(t), http.MethodGet, s.url+"/h2c-refused", nil)
		if err == nil && resp.StatusCode == 200 {
			t.Errorf("prior-knowledge h2c served without --h2c: %s %d %.200q", resp.Proto, resp.StatusCode, body)
		}
		c, _ := frontClient(t, s.listens[0], nil)
		env, _ := frontEnv(t, s, c, s.url+"/h1")
		if env["SERVER_PROTOCOL"] != "HTTP/1.1" {
			t.Errorf("SERVER_PROTOCOL %v", env["SERVER_PROTOCOL"])
		}
		s.expectNotCalled(t, "/h2c-refused")
	})
}

func TestFrontTLSClientCerts(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	try := func(s *frontServer, cert *tls.Certificate, path string) error {
		tr, _ := frontTransport(s.httpsURL(), p.tlsConf(cert, 0))
		tr.DisableKeepAlives = true
		defer tr.CloseIdleConnections()
		resp, body, err := frontDo(&http.Client{Transport: tr, Timeout: 10 * time.Second}, http.MethodGet, s.httpsURL()+path, nil)
		if err == nil && resp.StatusCode != 200 {
			return fmt.Errorf("status %d: %.200q", resp.StatusCode, body)
		}
		return err
	}
	for _, tc := range []struct {
		reqs              string
		none, good, rogue bool
	}{
		{reqs: "required", none: false, good: true, rogue: false},
		{reqs: "2", none: false, good: true, rogue: false},
		{reqs: "1", none: true, good: true, rogue: false}, // optional: verified when given
	} {
		t.Run("--cert-reqs "+tc.reqs, func(t *testing.T) {
			s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile,
				"--ca-certs", p.caFile, "--cert-reqs", tc.reqs}})
			for _, c := range []struct {
				name string
				cert *tls.Certificate
				want bool
			}{{"no client cert", nil, tc.none}, {"cert from the CA", &p.client, tc.good}, {"cert from another CA", &p.rogue, tc.rogue}} {
				err := try(s, c.cert, "/cert-"+strings.ReplaceAll(c.name, " ", "-"))
				if (err == nil) != c.want {
					t.Errorf("%s: error %v, want success=%v", c.name, err, c.want)
				}
			}
		})
	}
}

func TestFrontTLSMinVersion(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile, "--ssl-min-version", "1.3"}})
	c12, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, tls.VersionTLS12))
	if resp, _, err := frontDo(c12, http.MethodGet, s.httpsURL()+"/tls12", nil); err == nil {
		t.Errorf("a TLS 1.2 client was served (%s, TLS %x) with --ssl-min-version 1.3", resp.Proto, resp.TLS.Version)
	}
	c13, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
	_, resp := frontEnv(t, s, c13, s.httpsURL()+"/tls13")
	if resp.TLS.Version != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want 1.3", resp.TLS.Version)
	}
}

// ---------------------------------------------------------------------
// Limits

// frontLineOf builds a GET whose request line ("GET URI HTTP/1.1") is n bytes.
func frontLineOf(path string, n int) string {
	line := "GET " + path + "?p= HTTP/1.1"
	if pad := n - len(line); pad > 0 {
		line = "GET " + path + "?p=" + strings.Repeat("x", pad) + " HTTP/1.1"
	}
	return line
}

func frontHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "X-H-%d: v\r\n", i)
	}
	return b.String()
}

func frontChunks(sizes ...int) string {
	var b strings.Builder
	for i, n := range sizes {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, strings.Repeat(string(rune('a'+i)), n))
	}
	return b.String()
}

type frontLimitCase struct {
	name, path, raw string
	want            int
}

func runFrontLimitCases(t *testing.T, s *frontServer, cases []frontLimitCase) {
	t.Helper()
	for _, c := range cases {
		status, body, _ := frontRaw(t, s.addr, c.raw)
		if status != c.want {
			t.Errorf("%s: status %d, want %d; body %.200q", c.name, status, c.want, body)
		}
	}
	calls := s.calls(t)
	for _, c := range cases {
		called := slices.Contains(calls, c.path)
		if want := c.want == 200; called != want {
			t.Errorf("%s: app called for %s = %v, want %v (calls %v)", c.name, c.path, called, want, calls)
		}
	}
}

func TestFrontLimits(t *testing.T) {
	t.Parallel()
	accessLog := filepath.Join(t.TempDir(), "access.log")
	s := startFront(t, frontOptions{
		args: []string{"-b", "127.0.0.1:0", "--limit-request-line", "200", "--limit-request-fields", "10", "--limit-request-field-size", "100",
			"--access-logfile", accessLog},
		env: []string{"GOWSGI_LIMIT_REQUEST_BODY=1000"},
	})
	h := "Host: x\r\n"
	cases := []frontLimitCase{
		// Exact boundaries: the limit itself passes, one more is refused.
		{"request line of 200 bytes (the limit)", "/line-ok", frontLineOf("/line-ok", 200) + "\r\n" + h + "\r\n", 200},
		{"request line of 201 bytes", "/line-over", frontLineOf("/line-over", 201) + "\r\n" + h + "\r\n", 414},
		{"10 header fields (the limit)", "/fields-ok", "GET /fields-ok HTTP/1.1\r\n" + h + frontHeaders(9) + "\r\n", 200},
		{"11 header fields", "/fields-over", "GET /fields-over HTTP/1.1\r\n" + h + frontHeaders(10) + "\r\n", 431},
		{"a 100-byte header line (the limit)", "/size-ok", "GET /size-ok HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("v", 93) + "\r\n\r\n", 200},
		{"a 101-byte header line", "/size-over", "GET /size-over HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("v", 94) + "\r\n\r\n", 431},
		{"Content-Length 900 (limit 1000)", "/body-ok", "POST /body-ok HTTP/1.1\r\n" + h + "Content-Length: 900\r\n\r\n" + strings.Repeat("b", 900), 200},
		{"Content-Length 1000 (the limit)", "/body-at-limit", "POST /body-at-limit HTTP/1.1\r\n" + h + "Content-Length: 1000\r\n\r\n" + strings.Repeat("b", 1000), 200},
		{"Content-Length 1001, no body sent", "/body-over", "POST /body-over HTTP/1.1\r\n" + h + "Content-Length: 1001\r\n\r\n", 413},
		{"chunked 900 bytes", "/chunked-ok", "POST /chunked-ok HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n" + frontChunks(300, 300, 300) + "0\r\n\r\n", 200},
		// No terminating chunk: the server must answer without waiting for it.
		{"chunked growing to 1200 bytes", "/chunked-over", "POST /chunked-over HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n" + frontChunks(600, 600), 413},
	}
	runFrontLimitCases(t, s, cases)
	// Refused requests are in the access log too, with their status.
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(accessLog)
		var missing []string
		for _, c := range cases {
			if c.want == 200 {
				continue
			}
			found := false
			for line := range strings.Lines(string(data)) {
				if strings.Contains(line, c.path) && strings.Contains(line, fmt.Sprintf("\" %d ", c.want)) {
					found = true
				}
			}
			if !found {
				missing = append(missing, c.name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("access log has no line with the path and status of: %v\n%s", missing, data)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestFrontLimitDefaults(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0"}})
	h := "Host: x\r\n"
	runFrontLimitCases(t, s, []frontLimitCase{
		{"request line of 4000 bytes (default 4094)", "/dline-ok", frontLineOf("/dline-ok", 4000) + "\r\n" + h + "\r\n", 200},
		{"request line of 5000 bytes", "/dline-over", frontLineOf("/dline-over", 5000) + "\r\n" + h + "\r\n", 414},
		{"95 header fields (default 100)", "/dfields-ok", "GET /dfields-ok HTTP/1.1\r\n" + h + frontHeaders(94) + "\r\n", 200},
		{"110 header fields", "/dfields-over", "GET /dfields-over HTTP/1.1\r\n" + h + frontHeaders(109) + "\r\n", 431},
		{"an 8000-byte header line (default 8190)", "/dsize-ok", "GET /dsize-ok HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("v", 7993) + "\r\n\r\n", 200},
		{"a 9000-byte header line", "/dsize-over", "GET /dsize-over HTTP/1.1\r\n" + h + "X-Big: " + strings.Repeat("v", 8993) + "\r\n\r\n", 431},
	})
	// No body limit by default.
	body := strings.Repeat("z", 3<<20)
	resp, data, err := frontDo(testClient, http.MethodPost, s.url+"/upload", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(string(data), fmt.Sprintf(`"body_len": %d`, len(body))) {
		t.Errorf("3 MiB body with the default limit: %v %v %.200s", err, resp, data)
	}
}

func TestFrontLimitsHTTP2(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile,
		"--limit-request-line", "200", "--limit-request-fields", "10", "--limit-request-field-size", "100", "--limit-request-body", "1000"}})
	s.tlsConf = p.tlsConf(nil, 0)
	c, base := frontClient(t, s.httpsURL(), s.tlsConf)
	var hdrs []string
	for i := range 14 {
		hdrs = append(hdrs, fmt.Sprintf("X-H-%d", i), "v")
	}
	cases := []struct {
		name, path string
		body       io.Reader
		headers    []string
		want       int
	}{
		{"Content-Length 900 (limit 1000)", "/h2-body-ok", strings.NewReader(strings.Repeat("b", 900)), nil, 200},
		{"Content-Length 1001", "/h2-body-over", strings.NewReader(strings.Repeat("b", 1001)), nil, 413},
		{"1200 bytes of unknown length", "/h2-stream-over", io.MultiReader(strings.NewReader(strings.Repeat("b", 1200))), nil, 413},
		{"15 header fields (limit 10)", "/h2-fields-over", nil, hdrs, 431},
		{"a 157-byte header (limit 100)", "/h2-size-over", nil, []string{"X-Big", strings.Repeat("v", 150)}, 431},
		{"a 250-byte path (request line limit 200)", "/h2-line-over" + strings.Repeat("x", 237), nil, nil, 414},
		{"a short request", "/h2-small", nil, []string{"X-Big", strings.Repeat("v", 60)}, 200},
	}
	for _, tc := range cases {
		method := http.MethodGet
		if tc.body != nil {
			method = http.MethodPost
		}
		resp, body, err := frontDo(c, method, base+tc.path, tc.body, tc.headers...)
		if err != nil {
			t.Errorf("%s over HTTP/2: %v", tc.name, err)
			continue
		}
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.want {
			t.Errorf("%s: %s %d, want HTTP/2 %d; body %.200q", tc.name, resp.Proto, resp.StatusCode, tc.want, body)
		}
	}
	calls := s.calls(t)
	for _, tc := range cases {
		if called := slices.Contains(calls, tc.path); called != (tc.want == 200) {
			t.Errorf("%s: app called = %v, want %v", tc.name, called, tc.want == 200)
		}
	}
}

// ---------------------------------------------------------------------
// Timeouts

func TestFrontSlowloris(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--header-timeout", "2s"}})
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res := frontTrickle(t, func() (net.Conn, error) { return net.DialTimeout("tcp", s.addr, 5*time.Second) },
		100, "GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Slow: ", strings.Repeat("a", 10),
		func(i int) { frontPromptly(t, plain, fmt.Sprintf("%s/normal-%d", s.url, i)) })
	frontCutAround(t, "--header-timeout 2s, 100 connections sending a header byte a second", res, 1500*time.Millisecond, 4500*time.Millisecond)
	s.expectNotCalled(t, "/slowloris")
}

// frontTrickle opens n connections that each send first, then one byte of
// rest per second, and returns after how long each was closed (-1: never
// within 8 s); while they run, probe is called every 500 ms three times.
func frontTrickle(t *testing.T, dial func() (net.Conn, error), n int, first, rest string, probe func(i int)) []time.Duration {
	t.Helper()
	out := make(chan time.Duration, n)
	for range n {
		go func() {
			conn, err := dial()
			if err != nil {
				t.Errorf("dial: %v", err)
				out <- -1
				return
			}
			defer conn.Close()
			stop := make(chan struct{})
			go func() {
				io.WriteString(conn, first)
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for i := 0; i < len(rest); i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte{rest[i]}); err != nil {
							return
						}
					}
				}
			}()
			after, got, ok := frontWaitClosed(conn, conn, 8*time.Second)
			close(stop)
			if bytes.HasPrefix(got, []byte("HTTP/1.1 2")) {
				t.Errorf("a trickling connection was answered: %.100q", got)
			}
			if !ok {
				after = -1
			}
			out <- after
		}()
	}
	for i := range 3 {
		time.Sleep(500 * time.Millisecond)
		probe(i)
	}
	var res []time.Duration
	for range n {
		res = append(res, <-out)
	}
	return res
}

// frontCutAround fails unless every duration lies in [lo, hi].
func frontCutAround(t *testing.T, what string, res []time.Duration, lo, hi time.Duration) {
	t.Helper()
	for _, d := range res {
		if d < lo || d > hi {
			t.Errorf("%s: connections closed after %v; want each between %s and %s", what, res, lo, hi)
			return
		}
	}
}

// frontPromptly fails unless a fresh-connection GET is answered within 1 s.
func frontPromptly(t *testing.T, c *http.Client, url string) {
	t.Helper()
	start := time.Now()
	resp, _, err := frontDo(c, http.MethodGet, url, nil)
	if took := time.Since(start); err != nil || resp.StatusCode != 200 || took > time.Second {
		t.Errorf("GET %s meanwhile: %v %v after %s, want 200 within 1s", url, err, resp, took)
	}
}

func TestFrontHeaderTimeoutBeforeHTTP(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	t.Run("TLS handshake that never completes", func(t *testing.T) {
		t.Parallel()
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile, "--header-timeout", "2s"}})
		tr, _ := frontTransport(s.httpsURL(), p.tlsConf(nil, 0))
		tr.DisableKeepAlives = true
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		res := frontTrickle(t, func() (net.Conn, error) { return net.Dial("tcp", s.addr) }, 10, "\x16\x03\x01", "\x02\x00\x01\x00\x01\xfc",
			func(i int) { frontPromptly(t, c, fmt.Sprintf("%s/tls-probe-%d", s.httpsURL(), i)) })
		frontCutAround(t, "--header-timeout 2s, ClientHello a byte a second", res, 1500*time.Millisecond, 4500*time.Millisecond)
	})
	proxyServer := func(t *testing.T) (*frontServer, *http.Client) {
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--proxy-protocol", "--header-timeout", "2s"}})
		return s, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	}
	t.Run("PROXY header a byte a second", func(t *testing.T) {
		t.Parallel()
		s, c := proxyServer(t)
		res := frontTrickle(t, func() (net.Conn, error) { return net.Dial("tcp", s.addr) }, 10, "PROXY", " TCP4 192.0.2.10 192.0.2.20 1 2\r\n",
			func(i int) { frontPromptly(t, c, fmt.Sprintf("%s/proxy-probe-%d", s.url, i)) })
		frontCutAround(t, "--proxy-protocol --header-timeout 2s, PROXY header a byte a second", res, 1500*time.Millisecond, 4500*time.Millisecond)
	})
	t.Run("silent connection on a PROXY-protocol listener", func(t *testing.T) {
		t.Parallel()
		s, c := proxyServer(t)
		res := frontTrickle(t, func() (net.Conn, error) { return net.Dial("tcp", s.addr) }, 5, "", "",
			func(i int) { frontPromptly(t, c, fmt.Sprintf("%s/silent-probe-%d", s.url, i)) })
		frontCutAround(t, "--proxy-protocol --header-timeout 2s, connections that send nothing", res, 1500*time.Millisecond, 4500*time.Millisecond)
	})
}

func TestFrontProxyProtocolTLS(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile, "--proxy-protocol"}})
	raw := frontDial(t, "tcp", s.addr)
	io.WriteString(raw, "PROXY TCP4 192.0.2.10 192.0.2.20 56324 443\r\n")
	conf := p.tlsConf(nil, 0)
	conf.NextProtos = []string{"http/1.1"}
	conf.ServerName = "127.0.0.1"
	conn := tls.Client(raw, conf)
	if err := conn.Handshake(); err != nil {
		t.Fatalf("TLS after a PROXY header: %v\nserver log:\n%s", err, s.stderr.String())
	}
	io.WriteString(conn, "GET /proxied-tls HTTP/1.1\r\nHost: x\r\n\r\n")
	status, body, _ := frontReadResponse(t, raw, bufio.NewReader(conn), 10*time.Second)
	var env map[string]any
	json.Unmarshal(body, &env)
	if status != 200 || env["REMOTE_ADDR"] != "192.0.2.10" || env["wsgi.url_scheme"] != "https" {
		t.Errorf("PROXY then TLS: status %d REMOTE_ADDR %v scheme %v", status, env["REMOTE_ADDR"], env["wsgi.url_scheme"])
	}
	// Without a header, TLS (and HTTP/2) still work.
	c, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
	env, resp := frontEnv(t, s, c, s.httpsURL()+"/plain-tls")
	if resp.ProtoMajor != 2 || env["REMOTE_ADDR"] != "127.0.0.1" {
		t.Errorf("TLS without a PROXY header: %s REMOTE_ADDR %v", resp.Proto, env["REMOTE_ADDR"])
	}
}

func TestFrontHTTP2Timeouts(t *testing.T) {
	t.Parallel()
	p := newFrontPKI(t)
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--certfile", p.certFile, "--keyfile", p.keyFile,
		"--write-timeout", "1s", "--body-timeout", "1s"}})
	t.Run("a stream whose reader stops is cut", func(t *testing.T) {
		t.Parallel()
		c, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
		start := time.Now()
		resp, err := c.Get(s.httpsURL() + "/err/stream-forever")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close() // never read
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s, want HTTP/2", resp.Proto)
		}
		other, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
		for time.Since(start) < 15*time.Second {
			_, body, err := frontDo(other, http.MethodGet, s.httpsURL()+"/err/closed", nil)
			if err == nil && strings.Contains(string(body), "/stream-forever") {
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("cut only after %s", took)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("an HTTP/2 stream nobody reads was not cut within 15s with --write-timeout 1s")
	})
	t.Run("a stalled upload gets 408", func(t *testing.T) {
		t.Parallel()
		c, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
		pr, pw := io.Pipe()
		defer pw.Close()
		req, _ := http.NewRequest(http.MethodPost, s.httpsURL()+"/h2-stall", pr)
		req.ContentLength = 100
		go pw.Write([]byte("only ten b"))
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("stalled HTTP/2 upload: %v (after %s)", err, time.Since(start))
		}
		resp.Body.Close()
		if took := time.Since(start); resp.StatusCode != 408 || took > 5*time.Second {
			t.Errorf("stalled HTTP/2 upload: %s %d after %s, want 408 after about 1s", resp.Proto, resp.StatusCode, took)
		}
	})
	t.Run("a healthy stream completes", func(t *testing.T) {
		t.Parallel()
		c, _ := frontClient(t, s.httpsURL(), p.tlsConf(nil, 0))
		resp, body, err := frontDo(c, http.MethodGet, s.httpsURL()+"/stream?chunks=30&delay=0.1", nil)
		if err != nil || resp.StatusCode != 200 || len(body) != 300 {
			t.Errorf("HTTP/2 stream of 30 chunks 0.1s apart: %v %v, %d bytes", err, resp, len(body))
		}
	})
}

func TestFrontBodyTimeout(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--body-timeout", "1s"}})
	stall := func(t *testing.T, head, part string) {
		conn := frontDial(t, "tcp", s.addr)
		start := time.Now()
		io.WriteString(conn, head+part) // then nothing more
		status, body, _ := frontReadResponse(t, conn, bufio.NewReader(conn), 10*time.Second)
		took := time.Since(start)
		if status != 408 || took < 800*time.Millisecond || took > 5*time.Second {
			t.Errorf("stalled body: status %d after %s, want 408 after about 1s; body %.200q\nserver log:\n%s", status, took, body, s.stderr.String())
		}
	}
	t.Run("small body (read before the app)", func(t *testing.T) {
		t.Parallel()
		stall(t, "POST /stall-small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", strings.Repeat("s", 10))
	})
	t.Run("large body (streamed to the app)", func(t *testing.T) {
		t.Parallel()
		stall(t, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", strings.Repeat("L", 100000))
	})
	t.Run("chunked body", func(t *testing.T) {
		t.Parallel()
		stall(t, "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", frontChunks(10))
	})
	t.Run("a body that keeps moving is not cut", func(t *testing.T) {
		t.Parallel()
		conn := frontDial(t, "tcp", s.addr)
		io.WriteString(conn, "POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
		for range 10 { // 3 s in all, never 1 s without bytes
			time.Sleep(300 * time.Millisecond)
			io.WriteString(conn, strings.Repeat("t", 100))
		}
		status, body, _ := frontReadResponse(t, conn, bufio.NewReader(conn), 10*time.Second)
		if status != 200 || !strings.Contains(string(body), `"body_len": 1000`) {
			t.Errorf("trickled body: status %d %.200q", status, body)
		}
	})
}

func TestFrontKeepAlive(t *testing.T) {
	t.Parallel()
	idleClose := func(t *testing.T, s *frontServer, reuseAfter time.Duration) time.Duration {
		conn := frontDial(t, "tcp", s.addr)
		r := bufio.NewReader(conn)
		io.WriteString(conn, "GET /ka-1 HTTP/1.1\r\nHost: x\r\n\r\n")
		if status, _, _ := frontReadResponse(t, conn, r, 10*time.Second); status != 200 {
			t.Fatalf("first request: %d", status)
		}
		time.Sleep(reuseAfter)
		io.WriteString(conn, "GET /ka-2 HTTP/1.1\r\nHost: x\r\n\r\n")
		if status, _, _ := frontReadResponse(t, conn, r, 10*time.Second); status != 200 {
			t.Fatalf("request on the kept-alive connection after %s idle: %d", reuseAfter, status)
		}
		after, got, ok := frontWaitClosed(conn, r, 15*time.Second)
		if !ok || len(got) > 0 {
			t.Fatalf("idle connection: closed=%v after %s, read %.100q", ok, after, got)
		}
		return after
	}
	t.Run("--keep-alive 1", func(t *testing.T) {
		t.Parallel()
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--keep-alive", "1"}})
		if after := idleClose(t, s, 300*time.Millisecond); after < 700*time.Millisecond || after > 3*time.Second {
			t.Errorf("idle connection closed after %s, want about 1s", after)
		}
	})
	t.Run("default 5s", func(t *testing.T) {
		t.Parallel()
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0"}})
		if after := idleClose(t, s, 2500*time.Millisecond); after < 4*time.Second || after > 8*time.Second {
			t.Errorf("idle connection closed after %s, want about 5s", after)
		}
	})
}

func TestFrontWriteTimeout(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0",
		"--write-timeout", "1s", "--keep-alive", "1", "--header-timeout", "1s", "--body-timeout", "1s"}})
	c, base := frontClient(t, s.listens[0], nil)
	t.Run("a client that stops reading is cut", func(t *testing.T) {
		t.Parallel()
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			})
		}}
		conn, err := d.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		io.WriteString(conn, "GET /err/stream-forever HTTP/1.1\r\nHost: x\r\n\r\n")
		for time.Since(start) < 15*time.Second {
			resp, body, err := frontDo(c, http.MethodGet, base+"/err/closed", nil)
			if err == nil && resp.StatusCode == 200 && strings.Contains(string(body), "/stream-forever") {
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("the stalled reader was cut only after %s", took)
				}
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("a client that never reads was not cut within 15s with --write-timeout 1s\nserver log:\n%s", s.stderr.String())
	})
	t.Run("a healthy stream longer than every timeout completes", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		resp, body, err := frontDo(c, http.MethodGet, base+"/stream?chunks=30&delay=0.1", nil)
		if err != nil || resp.StatusCode != 200 || len(body) != 300 || time.Since(start) < 2*time.Second {
			t.Errorf("stream of 30 chunks 0.1s apart: %v %v, %d bytes after %s", err, resp, len(body), time.Since(start))
		}
	})
	t.Run("a slow app is not a slow client", func(t *testing.T) {
		t.Parallel()
		resp, body, err := frontDo(c, http.MethodGet, base+"/err/sleep?s=2", nil)
		if err != nil || resp.StatusCode != 200 || string(body) != "slept" {
			t.Errorf("/err/sleep?s=2 with --write-timeout 1s: %v %v %q", err, resp, body)
		}
	})
}

func TestFrontMaxConnections(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--max-connections", "2", "--backlog", "16"}})
	var held []net.Conn
	for i := range 2 {
		conn := frontDial(t, "tcp", s.addr)
		fmt.Fprintf(conn, "GET /mc-%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		if status, _, _ := frontReadResponse(t, conn, bufio.NewReader(conn), 10*time.Second); status != 200 {
			t.Fatalf("connection %d: status %d", i, status)
		}
		held = append(held, conn) // kept alive, still counted
	}
	third := frontDial(t, "tcp", s.addr) // the kernel accepts it into the backlog
	io.WriteString(third, "GET /mc-third HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(1200 * time.Millisecond))
	if n, err := third.Read(make([]byte, 1)); n > 0 || err == nil {
		t.Fatalf("the third connection was served while two were open (--max-connections 2)")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("the third connection failed instead of waiting: %v", err)
	}
	held[0].Close()
	closedAt := time.Now()
	status, _, _ := frontReadResponse(t, third, bufio.NewReader(third), 5*time.Second)
	if took := time.Since(closedAt); status != 200 || took > 2*time.Second {
		t.Errorf("third connection: status %d %s after one of the first two closed", status, took)
	}
	held[1].Close()
	third.Close()
	if calls := s.calls(t); !slices.Contains(calls, "/mc-third") {
		t.Errorf("calls %v", calls)
	}
	// --backlog 16: ss shows a listening socket's backlog as its Send-Q.
	_, port, _ := net.SplitHostPort(s.addr)
	if out, err := exec.Command("ss", "-ltnH", "sport = :"+port).Output(); err != nil {
		t.Logf("no ss to check --backlog: %v", err)
	} else if f := strings.Fields(string(out)); len(f) < 3 || f[2] != "16" {
		t.Errorf("--backlog 16: ss -ltn says %q", out)
	}
}

// ---------------------------------------------------------------------
// Trusted proxies

type frontEnvCase struct {
	name    string
	path    string
	headers []string
	want    map[string]string // "" also matches an absent key
}

func runFrontEnvCases(t *testing.T, s *frontServer, listen string, cases []frontEnvCase) {
	t.Helper()
	c, base := frontClient(t, listen, nil)
	for _, tc := range cases {
		path := tc.path
		if path == "" {
			path = "/fwd"
		}
		env, _ := frontEnv(t, s, c, base+path, tc.headers...)
		for k, want := range tc.want {
			got, isStr := env[k].(string)
			if env[k] != nil && !isStr || got != want {
				t.Errorf("%s via %s: %s = %#v, want %q", tc.name, listen, k, env[k], want)
			}
		}
	}
}

func TestFrontForwarded(t *testing.T) {
	t.Parallel()
	v6 := frontHaveIPv6()
	t.Run("defaults", func(t *testing.T) {
		args := []string{"-b", "127.0.0.1:0"}
		if v6 {
			args = append(args, "-b", "[::1]:0")
		}
		s := startFront(t, frontOptions{args: args, listens: len(args) / 2})
		v4 := s.pick(t, "http://127.0.0.1:")
		runFrontEnvCases(t, s, v4, []frontEnvCase{
			{name: "X-Forwarded-For", headers: []string{"X-Forwarded-For", "203.0.113.5"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.5"}},
			{name: "X-Forwarded-For spoofed chain", headers: []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.5"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.5"}},
			{name: "X-Forwarded-Proto", headers: []string{"X-Forwarded-Proto", "https"}, want: map[string]string{"wsgi.url_scheme": "https"}},
			{name: "X-Forwarded-Protocol: ssl", headers: []string{"X-Forwarded-Protocol", "ssl"}, want: map[string]string{"wsgi.url_scheme": "https"}},
			{name: "X-Forwarded-Ssl: on", headers: []string{"X-Forwarded-Ssl", "on"}, want: map[string]string{"wsgi.url_scheme": "https"}},
			{name: "X-Forwarded-Ssl: off", headers: []string{"X-Forwarded-Ssl", "off"}, want: map[string]string{"wsgi.url_scheme": "http"}},
			{name: "X-Forwarded-Host", headers: []string{"X-Forwarded-Host", "example.com"}, want: map[string]string{"HTTP_HOST": "example.com", "SERVER_NAME": "example.com"}},
			{name: "X-Forwarded-Host with a port", headers: []string{"X-Forwarded-Host", "example.com:8443"}, want: map[string]string{"HTTP_HOST": "example.com:8443", "SERVER_NAME": "example.com"}},
			{name: "X-Forwarded-Port", headers: []string{"X-Forwarded-Port", "8443"}, want: map[string]string{"SERVER_PORT": "8443"}},
			{name: "X-Forwarded-Prefix without --forwarded-prefix", path: "/items", headers: []string{"X-Forwarded-Prefix", "/api"},
				want: map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/items", "HTTP_X_FORWARDED_PREFIX": "/api"}},
			{name: "Forwarded", headers: []string{"Forwarded", "for=192.0.2.60;proto=https;host=example.org"},
				want: map[string]string{"REMOTE_ADDR": "192.0.2.60", "wsgi.url_scheme": "https", "HTTP_HOST": "example.org", "SERVER_NAME": "example.org"}},
			{name: "Forwarded with IPv6", headers: []string{"Forwarded", `for="[2001:db8:cafe::17]:4711";proto=https`},
				want: map[string]string{"REMOTE_ADDR": "2001:db8:cafe::17", "wsgi.url_scheme": "https"}},
			{name: "Forwarded spoofed chain", headers: []string{"Forwarded", "for=6.6.6.6, for=203.0.113.5"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.5"}},
		})
		if v6 {
			runFrontEnvCases(t, s, s.pick(t, "http://[::1]:"), []frontEnvCase{
				{name: "X-Forwarded-For from ::1", headers: []string{"X-Forwarded-For", "203.0.113.7"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.7"}},
			})
		}
	})
	t.Run("allow 127.0.0.1, --forwarded-prefix, custom secure headers", func(t *testing.T) {
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--forwarded-allow-ips", "127.0.0.1",
			"--forwarded-prefix", "--secure-scheme-headers", "X-Is-Secure=yes"}})
		runFrontEnvCases(t, s, s.listens[0], []frontEnvCase{
			{name: "spoofed chain", headers: []string{"X-Forwarded-For", "6.6.6.6, 203.0.113.5"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.5"}},
			{name: "trusted hop on the right", headers: []string{"X-Forwarded-For", "203.0.113.5, 127.0.0.1"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.5"}},
			{name: "two X-Forwarded-For lines", headers: []string{"X-Forwarded-For", "6.6.6.6", "X-Forwarded-For", "203.0.113.6"}, want: map[string]string{"REMOTE_ADDR": "203.0.113.6"}},
			{name: "X-Forwarded-Prefix", path: "/items", headers: []string{"X-Forwarded-Prefix", "/api"}, want: map[string]string{"SCRIPT_NAME": "/api", "PATH_INFO": "/items"}},
			{name: "custom secure header", headers: []string{"X-Is-Secure", "yes"}, want: map[string]string{"wsgi.url_scheme": "https"}},
			{name: "default secure header not in the custom list", headers: []string{"X-Forwarded-Ssl", "on"}, want: map[string]string{"wsgi.url_scheme": "http"}},
		})
	})
	t.Run("untrusted peer, unix socket trusted", func(t *testing.T) {
		sock := filepath.Join(frontSockDir(t), "f.sock")
		s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "-b", "unix:" + sock,
			"--forwarded-allow-ips", "192.0.2.1", "--forwarded-prefix"}, listens: 2})
		tcp := s.pick(t, "http://127.0.0.1:")
		host, port, _ := net.SplitHostPort(frontHostPort(tcp))
		all := []string{"X-Forwarded-For", "203.0.113.5", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example",
			"X-Forwarded-Port", "9999", "X-Forwarded-Prefix", "/evil", "X-Forwarded-Ssl", "on", "Forwarded", "for=198.51.100.1;proto=https;host=evil.example"}
		runFrontEnvCases(t, s, tcp, []frontEnvCase{
			{name: "every forwarding header from 127.0.0.1 with allow-ips 192.0.2.1", path: "/items", headers: all, want: map[string]string{
				"REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http", "HTTP_HOST": host + ":" + port, "SERVER_NAME": host, "SERVER_PORT": port,
				"SCRIPT_NAME": "", "PATH_INFO": "/items",
				"HTTP_X_FORWARDED_FOR": "203.0.113.5", "HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "evil.example",
				"HTTP_X_FORWARDED_PORT": "9999", "HTTP_X_FORWARDED_PREFIX": "/evil", "HTTP_X_FORWARDED_SSL": "on",
				"HTTP_FORWARDED": "for=198.51.100.1;proto=https;host=evil.example"}},
		})
		runFrontEnvCases(t, s, "unix:"+sock, []frontEnvCase{
			{name: "unix-socket peer", headers: []string{"X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https"},
				want: map[string]string{"REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https"}},
		})
	})
}

// ---------------------------------------------------------------------
// PROXY protocol

// frontProxyV2 builds a PROXY protocol v2 header. cmd 1 = PROXY, 0 = LOCAL;
// fam 0x11 = TCP over IPv4, 0x21 = TCP over IPv6, 0 = UNSPEC.
func frontProxyV2(cmd, fam byte, src, dst string, sport, dport uint16, tlv []byte) []byte {
	var addr []byte
	switch fam {
	case 0x11:
		addr = append(addr, net.ParseIP(src).To4()...)
		addr = append(addr, net.ParseIP(dst).To4()...)
	case 0x21:
		addr = append(addr, net.ParseIP(src).To16()...)
		addr = append(addr, net.ParseIP(dst).To16()...)
	}
	if fam != 0 {
		addr = binary.BigEndian.AppendUint16(addr, sport)
		addr = binary.BigEndian.AppendUint16(addr, dport)
	}
	addr = append(addr, tlv...)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addr)))
	return append(b, addr...)
}

// frontProxyEnv sends a PROXY header and n GETs on one connection and
// returns each environ; it fails the test when the server does not answer.
func frontProxyEnv(t *testing.T, s *frontServer, header []byte, path string, n int) []map[string]any {
	t.Helper()
	conn := frontDial(t, "tcp", s.addr)
	r := bufio.NewReader(conn)
	conn.Write(header)
	var envs []map[string]any
	for range n {
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		status, body, _ := frontReadResponse(t, conn, r, 10*time.Second)
		if status != 200 {
			t.Fatalf("%q then GET %s: status %d %.200q\nserver log:\n%s", header, path, status, body, s.stderr.String())
		}
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
	}
	return envs
}

func TestFrontProxyProtocol(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--proxy-protocol"}})
	valid := []struct {
		name       string
		header     []byte
		addr, port string // "" port: not checked
	}{
		{"v1 TCP4", []byte("PROXY TCP4 192.0.2.10 192.0.2.20 56324 443\r\n"), "192.0.2.10", "56324"},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::10 2001:db8::20 1234 443\r\n"), "2001:db8::10", "1234"},
		{"v1 UNKNOWN keeps the real peer", []byte("PROXY UNKNOWN\r\n"), "127.0.0.1", ""},
		{"v2 TCP4", frontProxyV2(1, 0x11, "192.0.2.11", "192.0.2.20", 40000, 443, nil), "192.0.2.11", "40000"},
		{"v2 TCP6", frontProxyV2(1, 0x21, "2001:db8::11", "2001:db8::20", 40001, 443, nil), "2001:db8::11", "40001"},
		{"v2 TCP4 with a TLV", frontProxyV2(1, 0x11, "192.0.2.12", "192.0.2.20", 40002, 443, []byte{0x04, 0x00, 0x03, 0, 0, 0}), "192.0.2.12", "40002"},
		{"v2 LOCAL keeps the real peer", frontProxyV2(0, 0, "", "", 0, 0, nil), "127.0.0.1", ""},
	}
	for _, v := range valid {
		t.Run(v.name, func(t *testing.T) {
			for i, env := range frontProxyEnv(t, s, v.header, "/proxied", 2) {
				if env["REMOTE_ADDR"] != v.addr || v.port != "" && env["REMOTE_PORT"] != v.port {
					t.Errorf("request %d on the connection: REMOTE_ADDR %v REMOTE_PORT %v, want %s %s", i, env["REMOTE_ADDR"], env["REMOTE_PORT"], v.addr, v.port)
				}
			}
		})
	}
	t.Run("no header still works", func(t *testing.T) {
		env := frontProxyEnv(t, s, nil, "/no-proxy-header", 1)[0]
		if env["REMOTE_ADDR"] != "127.0.0.1" {
			t.Errorf("REMOTE_ADDR %v", env["REMOTE_ADDR"])
		}
	})
	t.Run("malformed headers close the connection", func(t *testing.T) {
		before := len(s.stderr.String())
		bad := []struct {
			name   string
			header []byte
		}{
			{"v1 bad address", []byte("PROXY TCP4 192.0.2.300 192.0.2.20 1 2\r\n")},
			{"v1 bad port", []byte("PROXY TCP4 192.0.2.10 192.0.2.20 99999 2\r\n")},
			{"v1 unknown family", []byte("PROXY TCP5 192.0.2.10 192.0.2.20 1 2\r\n")},
			{"v1 missing fields", []byte("PROXY TCP4 192.0.2.10\r\n")},
			{"v1 over 107 bytes", []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n")},
			{"v2 version 3", append([]byte("\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c"), make([]byte, 12)...)},
			{"v2 TCP4 too short", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04\xc0\x00\x02\x0a")},
		}
		for i, b := range bad {
			conn := frontDial(t, "tcp", s.addr)
			conn.Write(b.header)
			fmt.Fprintf(conn, "GET /bad-proxy-%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			after, got, closed := frontWaitClosed(conn, conn, 5*time.Second)
			if !closed || len(got) > 0 {
				t.Errorf("%s: closed=%v after %s, read %.120q; want the connection closed with no answer", b.name, closed, after, got)
			}
		}
		if !strings.Contains(strings.ToLower(s.stderr.String()[before:]), "proxy") {
			t.Errorf("no log line about the malformed PROXY headers:\n%s", s.stderr.String()[before:])
		}
		s.expectNotCalled(t, "/bad-proxy-")
	})
	t.Run("peer not in --proxy-allow-from", func(t *testing.T) {
		s2 := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--proxy-protocol", "--proxy-allow-from", "192.0.2.1"}})
		conn := frontDial(t, "tcp", s2.addr)
		io.WriteString(conn, "PROXY TCP4 192.0.2.10 192.0.2.20 56324 443\r\nGET /not-allowed HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if resp, err := http.ReadResponse(r, nil); err == nil {
			body, _ := io.ReadAll(resp.Body)
			t.Logf("PROXY header from a peer not allowed: answered %d", resp.StatusCode)
			if resp.StatusCode != 400 {
				t.Errorf("PROXY header from a peer not allowed: status %d %.200q, want 400 or a closed connection", resp.StatusCode, body)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("PROXY header from a peer not allowed: no answer and not closed within 5s")
		}
		s2.expectNotCalled(t, "/not-allowed")
		env := frontProxyEnv(t, s2, nil, "/plain-from-unlisted", 1)[0]
		if env["REMOTE_ADDR"] != "127.0.0.1" {
			t.Errorf("REMOTE_ADDR %v", env["REMOTE_ADDR"])
		}
	})
}

// --proxy-protocol=required: HAProxy's spec says a receiver must not
// guess, so an allowed peer's connection without a header is closed
// unanswered; a header, and a connection that sends nothing, are fine.
func TestFrontProxyProtocolRequired(t *testing.T) {
	t.Parallel()
	s := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--proxy-protocol=required"}})
	env := frontProxyEnv(t, s, []byte("PROXY TCP4 192.0.2.10 192.0.2.20 56324 443\r\n"), "/required-with-header", 2)
	if env[1]["REMOTE_ADDR"] != "192.0.2.10" {
		t.Errorf("REMOTE_ADDR %v, want the header's 192.0.2.10", env[1]["REMOTE_ADDR"])
	}

	before := len(s.stderr.String())
	health := frontDial(t, "tcp", s.addr) // a TCP health check: connect, close
	health.Close()

	conn := frontDial(t, "tcp", s.addr)
	io.WriteString(conn, "GET /required-without-header HTTP/1.1\r\nHost: x\r\n\r\n")
	after, got, closed := frontWaitClosed(conn, conn, 5*time.Second)
	if !closed || len(got) > 0 {
		t.Errorf("plain request: closed=%v after %s, read %.120q; want the connection closed with no answer", closed, after, got)
	}
	calls := frontDial(t, "tcp", s.addr) // /calls, through a header as required
	io.WriteString(calls, "PROXY TCP4 192.0.2.10 192.0.2.20 56325 443\r\nGET /calls HTTP/1.1\r\nHost: x\r\n\r\n")
	if status, body, _ := frontReadResponse(t, calls, bufio.NewReader(calls), 10*time.Second); status != 200 || strings.Contains(string(body), "/required-without-header") {
		t.Errorf("/calls: %d %.300s; want 200 without /required-without-header", status, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String()[before:], "does not start with one") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	log := s.stderr.String()[before:]
	if !strings.Contains(log, "does not start with one") {
		t.Errorf("no log line for the connection without a header:\n%s", log)
	}
	if n := strings.Count(log, "closing the connection"); n != 1 {
		t.Errorf("%d closing lines, want 1 (the health check's empty connection is not an error):\n%s", n, log)
	}

	t.Run("peers not allowed stay plain", func(t *testing.T) {
		s2 := startFront(t, frontOptions{args: []string{"-b", "127.0.0.1:0", "--proxy-protocol=required", "--proxy-allow-from", "192.0.2.1"}})
		if env := frontProxyEnv(t, s2, nil, "/plain-from-unlisted", 1)[0]; env["REMOTE_ADDR"] != "127.0.0.1" {
			t.Errorf("REMOTE_ADDR %v", env["REMOTE_ADDR"])
		}
	})
}

// ---------------------------------------------------------------------
// Bad settings

func TestFrontBadSettingsExit2(t *testing.T) {
	t.Parallel()
	requireVenv(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	p := newFrontPKI(t)
	tlsArgs := []string{"--certfile", p.certFile, "--keyfile", p.keyFile}
	for _, tc := range []struct {
		args []string
		name string // what the message must mention
	}{
		{append([]string{"--cert-reqs", "sometimes"}, tlsArgs...), "cert-reqs"},
		{append([]string{"--ssl-min-version", "1.1"}, tlsArgs...), "ssl-min-version"},
		{[]string{"--cert-reqs", "sometimes"}, "cert-reqs"},
		{[]string{"--ssl-min-version", "1.1"}, "ssl-min-version"},
		{[]string{"--http", "3"}, "http"},
		{[]string{"--umask", "9z"}, "umask"},
		{[]string{"--certfile", missing, "--keyfile", missing}, missing},
		{[]string{"-b", "fd://x"}, "fd://x"},
		{[]string{"-b", "127.0.0.1:99999"}, "port 99999 is not between 0 and 65535"},
	} {
		args := append([]string{"run", "--virtualenv", testVenv, "--chdir", filepath.Join(repoRoot, "testdata", "apps"), "-b", "127.0.0.1:0"}, tc.args...)
		code, out := frontRunUntilExit(t, 20*time.Second, append(args, frontApp)...)
		if code != 2 || !strings.Contains(out, tc.name) {
			t.Errorf("%v: exit %d (-1: it started serving), want 2 and a message naming %q:\n%s", tc.args, code, tc.name, out)
		}
	}
}
