package metadata_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/metadata"
)

// source is how the daemon hands renderings to the handlers: one
// atomic.Pointer, swapped when a new snapshot is built.
type source struct {
	atomic.Pointer[metadata.Published]
}

func (s *source) Published() *metadata.Published { return s.Load() }

func Example() {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	cred := exampleCredential(now, now.Add(365*24*time.Hour))

	p, err := metadata.Build(metadata.Input{
		SP: config.SP{
			EntityID:      "https://sp.example.com/saml/metadata",
			ACS:           []config.Endpoint{{Binding: "post", Location: "https://sp.example.com/saml/acs", Default: true}},
			NameIDFormats: []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
			Metadata:      config.Metadata{ValidFor: 48 * time.Hour, CacheDuration: 24 * time.Hour, Signed: true},
		},
		Keys:              &keys.KeySet{Signing: []*keys.Credential{cred}, Encryption: []*keys.Credential{cred}},
		EncryptionMethods: []string{"http://www.w3.org/2009/xmlenc11#aes256-gcm"},
		Now:               now,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("valid until:", p.ValidUntil().Format(time.RFC3339))
	fmt.Println("re-render at:", p.RefreshAt().Format(time.RFC3339))

	var src source
	mux := http.NewServeMux()
	metadata.NewHandler(&src, nil).Register(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/saml/metadata", nil))
	fmt.Println("before the first snapshot:", rec.Code)

	src.Store(p)
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/saml/metadata", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
	// Output:
	// valid until: 2027-01-03T00:00:00Z
	// re-render at: 2027-01-02T00:00:00Z
	// before the first snapshot: 503
	// 200 application/samlmetadata+xml public, max-age=86400
}

func exampleCredential(notBefore, notAfter time.Time) *keys.Credential {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sp.example.com"}, NotBefore: notBefore, NotAfter: notAfter}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	return &keys.Credential{RecordName: "example", Role: keys.RoleCurrent, Signer: key, Chain: []*x509.Certificate{cert}}
}
