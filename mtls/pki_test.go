package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// testPKI is the PKI of the mTLS tests: a server CA with a server
// certificate for 127.0.0.1 and localhost, a client CA with a good and an
// expired client certificate, and an unrelated CA with a client certificate
// no server trusts.
type testPKI struct {
	serverCA, clientCA, otherCA *testCA
	server, serverExpired       tls.Certificate
	good, wrongCA, expired      *keys.Entry
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t testing.TB, cn string) *testCA {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"samlkeyd tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: k}
}

type leafOpts struct {
	cn       string
	server   bool
	dns      []string
	ips      []net.IP
	notAfter time.Time
}

func (ca *testCA) issue(t testing.TB, o leafOpts) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k := newKey(t)
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(12 * time.Hour)
	}
	eku := x509.ExtKeyUsageClientAuth
	if o.server {
		eku = x509.ExtKeyUsageServerAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.cn, Organization: []string{"samlkeyd tests"}},
		NotBefore:    time.Now().Add(-48 * time.Hour),
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{eku},
		DNSNames:     o.dns,
		IPAddresses:  o.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func (ca *testCA) entry(t testing.TB, o leafOpts) *keys.Entry {
	c, k := ca.issue(t, o)
	return &keys.Entry{Alias: o.cn, Key: k, Chain: []*x509.Certificate{c, ca.cert}}
}

func (ca *testCA) serverCert(t testing.TB, notAfter time.Time) tls.Certificate {
	c, k := ca.issue(t, leafOpts{cn: "test server", server: true, dns: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}, notAfter: notAfter})
	return tls.Certificate{Certificate: [][]byte{c.Raw, ca.cert.Raw}, PrivateKey: k, Leaf: c}
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{
		serverCA: newCA(t, "Test Server Root"),
		clientCA: newCA(t, "Test Client CA"),
		otherCA:  newCA(t, "Unrelated CA"),
	}
	p.server = p.serverCA.serverCert(t, time.Time{})
	p.serverExpired = p.serverCA.serverCert(t, time.Now().Add(-time.Hour))
	p.good = p.clientCA.entry(t, leafOpts{cn: "samlkeyd client"})
	p.wrongCA = p.otherCA.entry(t, leafOpts{cn: "samlkeyd client (wrong CA)"})
	p.expired = p.clientCA.entry(t, leafOpts{cn: "samlkeyd client (expired)", notAfter: time.Now().Add(-time.Hour)})
	return p
}

// profile builds the mhttps profile with the given client and trust.
func (p *testPKI) profile(t testing.TB, client *keys.Entry, trust ...*x509.Certificate) *Profile {
	t.Helper()
	if trust == nil {
		trust = []*x509.Certificate{p.serverCA.cert}
	}
	prof, err := NewProfile(cfgProfile("mhttps"), client, trust)
	if err != nil {
		t.Fatal(err)
	}
	return prof
}

// writePEM writes certificates (and optionally a key) as PEM into dir.
func writePEM(t testing.TB, dir, name string, certs []*x509.Certificate, key any) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if key != nil {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
