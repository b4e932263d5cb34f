package host

import (
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"

	"github.com/gowsgi/gowsgi/environ"
)

// front is everything between the socket and the handler: listener
// wrappers (--max-connections, PROXY protocol), TLS and the protocols it
// offers, and the net/http server's timeouts.
type front struct {
	cfg        Config
	tls        *tls.Config
	certs      *certStore
	proxyAllow []netip.Prefix
	log        *Logger
}

func newFront(cfg Config, logger *Logger) (*front, error) {
	f := &front{cfg: cfg, log: logger}
	if cfg.TLS.Enabled() {
		var err error
		if f.tls, f.certs, err = buildTLS(cfg.TLS); err != nil {
			return nil, err
		}
	}
	if cfg.ProxyProtocol != ProxyProtocolOff {
		allow, err := environ.ParseForwardedAllow(cfg.ProxyAllowFrom)
		if err != nil {
			return nil, fmt.Errorf("--proxy-allow-from: %w", err)
		}
		f.proxyAllow = allow
	}
	return f, nil
}

// wrap applies the connection limit, then PROXY protocol parsing.
func (f *front) wrap(listeners []net.Listener) []net.Listener {
	out := make([]net.Listener, len(listeners))
	for i, ln := range listeners {
		ln = limitConnections(ln, f.cfg.MaxConnections)
		if f.cfg.ProxyProtocol != ProxyProtocolOff {
			ln = acceptProxyProtocol(ln, f.cfg.ProxyProtocol, f.proxyAllow, f.cfg.HeaderTimeout, f.log)
		}
		out[i] = ln
	}
	return out
}

// server builds the net/http server. Only idle and header timeouts are
// server-wide: body reads and response writes get per-operation deadlines
// in the handler, so a long stream that keeps moving is never cut.
func (f *front) server(h http.Handler, errorLog *log.Logger) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if f.cfg.HTTP != "1" {
		protocols.SetHTTP2(true) // over TLS, by ALPN
	}
	if f.cfg.H2C {
		protocols.SetUnencryptedHTTP2(true)
	}
	limits := f.cfg.requestLimits()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: f.cfg.HeaderTimeout,
		IdleTimeout:       f.cfg.KeepAlive,
		MaxHeaderBytes:    limits.maxHeaderBytes(),
		TLSConfig:         f.tls,
		Protocols:         &protocols,
		ErrorLog:          errorLog,
		// "OPTIONS *" goes to the app, as under gunicorn (PATH_INFO "*").
		DisableGeneralOptionsHandler: true,
	}
}

func (f *front) serve(srv *http.Server, ln net.Listener) error {
	if f.tls != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

func (f *front) displayAddr(ln net.Listener) string { return listenURL(ln, f.tls != nil) }

func (f *front) reloadCertificate() error {
	if f.certs == nil {
		return nil
	}
	return f.certs.load()
}

// listenOptions are the socket settings of cfg.
func (c *Config) listenOptions() listenOptions {
	return listenOptions{backlog: c.Backlog, umask: c.Umask}
}

// environConfig turns the proxy-trust settings into environ's.
func (c *Config) environConfig() (environ.Config, error) {
	allow, err := environ.ParseForwardedAllow(c.ForwardedAllowIPs)
	if err != nil {
		return environ.Config{}, fmt.Errorf("--forwarded-allow-ips: %w", err)
	}
	secure, err := environ.ParseSecureSchemeHeaders(c.SecureSchemeHeaders)
	if err != nil {
		return environ.Config{}, fmt.Errorf("--secure-scheme-headers: %w", err)
	}
	return environ.Config{
		ScriptName:          environ.NormalizeRootPath(c.RootPath),
		ForwardedAllow:      allow,
		SecureSchemeHeaders: secure,
		ForwardedPrefix:     c.ForwardedPrefix,
	}, nil
}
