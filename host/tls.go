package host

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
)

// TLSConfig is what --certfile, --keyfile, --ca-certs, --cert-reqs and
// --ssl-min-version say.
type TLSConfig struct {
	CertFile, KeyFile string
	CAFile            string
	CertReqs          string // none|optional|required (or 0|1|2, gunicorn's numbers)
	MinVersion        string // 1.2 or 1.3
}

// validate checks the settings' values even when TLS is off, so that a
// typo is reported now and not when a certificate is added later.
func (t TLSConfig) validate() error {
	switch t.MinVersion {
	case "", "1.2", "TLSv1.2", "1.3", "TLSv1.3":
	default:
		return fmt.Errorf("--ssl-min-version %q: want 1.2 or 1.3", t.MinVersion)
	}
	switch strings.ToLower(t.CertReqs) {
	case "", "0", "none", "1", "optional", "2", "required":
	default:
		return fmt.Errorf("--cert-reqs %q: want none, optional or required", t.CertReqs)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return fmt.Errorf("TLS needs both --certfile and --keyfile")
	}
	return nil
}

// Enabled reports whether TLS is asked for.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// certStore holds the current certificate; SIGHUP swaps in a fresh one
// from the same files without dropping a connection.
type certStore struct {
	mu                sync.RWMutex
	cert              *tls.Certificate
	certFile, keyFile string
}

func (c *certStore) load() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s / key %s: %w", c.certFile, c.keyFile, err)
	}
	c.mu.Lock()
	c.cert = &cert
	c.mu.Unlock()
	return nil
}

func (c *certStore) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cert, nil
}

// buildTLS makes the server's tls.Config; ALPN (h2, http/1.1) is added by
// net/http from the server's Protocols.
func buildTLS(t TLSConfig) (*tls.Config, *certStore, error) {
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, nil, fmt.Errorf("TLS needs both --certfile and --keyfile")
	}
	store := &certStore{certFile: t.CertFile, keyFile: t.KeyFile}
	if err := store.load(); err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{GetCertificate: store.get, MinVersion: tls.VersionTLS12}
	switch t.MinVersion {
	case "", "1.2", "TLSv1.2":
	case "1.3", "TLSv1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, nil, fmt.Errorf("--ssl-min-version %q: want 1.2 or 1.3", t.MinVersion)
	}
	switch strings.ToLower(t.CertReqs) {
	case "", "0", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "1", "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "2", "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, nil, fmt.Errorf("--cert-reqs %q: want none, optional or required", t.CertReqs)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--ca-certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("--ca-certs %s: no PEM certificate in it", t.CAFile)
		}
		cfg.ClientCAs = pool
	} else if cfg.ClientAuth != tls.NoClientCert {
		return nil, nil, fmt.Errorf("--cert-reqs %s needs --ca-certs to verify client certificates", t.CertReqs)
	}
	return cfg, store, nil
}
