// Package mtls owns outbound mutual-TLS: protocol profiles (a URL scheme
// bound to a client keystore, a default port and trust-store certificates),
// the health checks that dial partners with them, the cron schedule that runs
// those checks, and the plain-words diagnosis of a failed handshake.
//
// The daemon resolves certificate records into Go values and calls
// NewProfile and NewCheck when it builds a snapshot, then hands the checks to
// a Scheduler with Update. There is no way to skip server verification.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// Sentinel errors for what callers branch on.
var (
	// ErrNoPrivateKey means a profile's keystore holds no private key, so it
	// cannot authenticate a client.
	ErrNoPrivateKey = errors.New("keystore has no private key")
	// ErrUnknownProfile means a check names a profile (or URL scheme) that is
	// not configured.
	ErrUnknownProfile = errors.New("unknown protocol profile")
	// ErrUnknownCheck means no check of that name is scheduled.
	ErrUnknownCheck = errors.New("unknown check")
)

// Profile is a resolved protocol profile: the client credential presented
// when a server asks for one, the roots the server must chain to, and the
// TLS floor. A Profile is immutable and safe for concurrent use.
type Profile struct {
	name        string
	defaultPort int
	serverName  string
	minVersion  uint16
	client      tls.Certificate
	chain       []*x509.Certificate
	roots       *x509.CertPool // nil = system roots
}

// NewProfile checks cfg and binds it to the client credential and the
// trust-store certificates. An empty trust list means the system roots.
func NewProfile(cfg config.Profile, client *keys.Entry, trust []*x509.Certificate) (*Profile, error) {
	if cfg.Name == "" {
		return nil, errors.New("protocol profile: name is empty")
	}
	if strings.ContainsAny(cfg.Name, ":/ ") {
		return nil, fmt.Errorf("protocol profile %q: name must be a bare URL scheme such as mhttps", cfg.Name)
	}
	if client == nil || !client.IsPrivateKey() {
		return nil, fmt.Errorf("protocol profile %q keystore %q: %w: choose a certificate record made from a keystore with a key entry", cfg.Name, cfg.Keystore, ErrNoPrivateKey)
	}
	if len(client.Chain) == 0 {
		return nil, fmt.Errorf("protocol profile %q keystore %q: key entry %q has no certificate", cfg.Name, cfg.Keystore, client.Alias)
	}
	if cfg.DefaultPort < 0 || cfg.DefaultPort > 65535 {
		return nil, fmt.Errorf("protocol profile %q: default_port %d is out of range 1-65535", cfg.Name, cfg.DefaultPort)
	}
	minV, err := ParseTLSVersion(cfg.MinTLSVersion)
	if err != nil {
		return nil, fmt.Errorf("protocol profile %q min_tls_version: %w", cfg.Name, err)
	}
	p := &Profile{
		name:        cfg.Name,
		defaultPort: cfg.DefaultPort,
		serverName:  cfg.ServerName,
		minVersion:  minV,
		chain:       append([]*x509.Certificate(nil), client.Chain...),
	}
	if p.defaultPort == 0 {
		p.defaultPort = 443
	}
	p.client.PrivateKey = client.Key
	p.client.Leaf = client.Chain[0]
	for _, c := range client.Chain {
		p.client.Certificate = append(p.client.Certificate, c.Raw)
	}
	for i, c := range trust {
		if c == nil {
			return nil, fmt.Errorf("protocol profile %q trust_store[%d]: not a certificate", cfg.Name, i)
		}
		if p.roots == nil {
			p.roots = x509.NewCertPool()
		}
		p.roots.AddCert(c)
	}
	return p, nil
}

// Name returns the profile's name, the URL scheme it registers.
func (p *Profile) Name() string { return p.name }

// DefaultPort returns the port used when a URL of this scheme names none.
func (p *Profile) DefaultPort() int { return p.defaultPort }

// ClientLeaf returns the client certificate the profile presents.
func (p *Profile) ClientLeaf() *x509.Certificate { return p.client.Leaf }

// ParseTLSVersion maps "1.2" or "1.3" (also "TLS1.2", "tls13") to the
// crypto/tls constant; empty means 1.2.
func ParseTLSVersion(s string) (uint16, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	n = strings.TrimPrefix(strings.TrimPrefix(n, "tls"), "v")
	n = strings.TrimSpace(n)
	switch n {
	case "", "1.2", "12", "1_2":
		return tls.VersionTLS12, nil
	case "1.3", "13", "1_3":
		return tls.VersionTLS13, nil
	case "1.0", "1.1", "10", "11":
		return 0, fmt.Errorf("%q is not allowed: TLS 1.0 and 1.1 are obsolete; use 1.2 or 1.3", s)
	}
	return 0, fmt.Errorf("%q is not a TLS version: use 1.2 or 1.3", s)
}
