package metadata

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// clock is the fixed rendering time of every test; the testdata
// certificates are valid from 2026-11-22 for ten years.
var clock = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	encAES256GCM = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	encRSAOAEP   = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
)

// testSP is a complete SP config exercising every element Build writes.
func testSP() config.SP {
	return config.SP{
		EntityID: "https://sp.example.com/saml/metadata",
		BaseURL:  "https://sp.example.com",
		ACS: []config.Endpoint{
			{Binding: "post", Location: "https://sp.example.com/saml/acs", Index: 0, Default: true},
			{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: "https://sp.example.com/saml/acs/2", Index: 1},
		},
		SLO: []config.Endpoint{
			{Binding: "redirect", Location: "https://sp.example.com/saml/slo", ResponseLocation: "https://sp.example.com/saml/slo/done"},
			{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: "https://sp.example.com/saml/slo/post"},
		},
		NameIDFormats:        []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"},
		WantAssertionsSigned: true,
		Metadata:             config.Metadata{ValidFor: 48 * time.Hour, CacheDuration: 24 * time.Hour},
		Organization:         &config.Organization{Name: "Example & Sons", DisplayName: "Example <SSO>", URL: "https://example.com/", Lang: "en"},
		Contacts:             []config.Contact{{Type: "technical", Company: "Example", GivenName: "Ada", SurName: "Lovelace", Email: "sso@example.com", Phone: "+1 555 0100"}},
	}
}

// federationSP is testSP with every federation element: mdui in two
// languages with a logo, the REFEDS security contact, requested
// attributes, entity categories, an assurance certification and two
// discovery responses.
func federationSP() config.SP {
	s := testSP()
	s.UIInfo = &config.UIInfo{
		DisplayName:         map[string]string{"en": "Example Research Portal", "de": "Beispiel-Forschungsportal"},
		Description:         map[string]string{"en": "Journals & data for researchers"},
		InformationURL:      map[string]string{"en": "https://sp.example.com/about"},
		PrivacyStatementURL: map[string]string{"en": "https://sp.example.com/privacy", "de": "https://sp.example.com/datenschutz"},
		Logos:               []config.Logo{{URL: "https://sp.example.com/logo.png", Width: 80, Height: 60, Lang: "en"}, {URL: "https://sp.example.com/icon.png", Width: 16, Height: 16}},
	}
	s.Contacts = append(s.Contacts,
		config.Contact{Type: "administrative", GivenName: "Grace", Email: "admin@example.com"},
		config.Contact{Type: "security", GivenName: "CSIRT", Email: "csirt@example.com"})
	s.RequestedAttributes = []config.RequestedAttribute{
		{Name: "urn:oid:0.9.2342.19200300.100.1.3", FriendlyName: "mail", Required: true},
		{Name: "urn:oid:1.3.6.1.4.1.5923.1.1.1.6", NameFormat: config.AttrNameFormatURI, FriendlyName: "eduPersonPrincipalName"},
	}
	s.EntityCategories = []string{"http://refeds.org/category/research-and-scholarship", "https://refeds.org/category/personalized"}
	s.AssuranceCertifications = []string{"https://refeds.org/sirtfi"}
	s.DiscoveryResponse = []string{"https://sp.example.com/saml/disco", "https://sp.example.com/saml/disco2"}
	return s
}

// loadCred reads testdata/<name>.key and .crt (made by gen.sh).
func loadCred(t testing.TB, name string, use keys.Use, role keys.Role) *keys.Credential {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join("testdata", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, err := os.ReadFile(filepath.Join("testdata", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(crtPEM)
	if kb == nil || cb == nil {
		t.Fatalf("testdata %s: no PEM block", name)
	}
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatalf("testdata %s.key: %v", name, err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatalf("testdata %s.crt: %v", name, err)
	}
	return &keys.Credential{RecordID: name, RecordName: "test " + name, Use: use, Role: role, Signer: key.(crypto.Signer), Chain: []*x509.Certificate{cert}}
}

// genCred makes a fresh EC P-256 self-signed credential valid in
// [notBefore, notAfter], with a CA certificate after the leaf so tests can
// check that only the leaf is published.
func genCred(t testing.TB, cn string, use keys.Use, role keys.Role, notBefore, notAfter time.Time) *keys.Credential {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := loadCred(t, "rsa-signing", use, role).Leaf() // stands in for an issuer in the chain
	return &keys.Credential{RecordID: cn, RecordName: cn, Use: use, Role: role, Signer: key, Chain: []*x509.Certificate{cert, ca}}
}

// testInput is a two-key input: RSA signing and RSA encryption, fixed clock.
func testInput(t testing.TB) Input {
	return Input{
		SP:                  testSP(),
		AuthnRequestsSigned: true,
		Keys: &keys.KeySet{
			Signing:    []*keys.Credential{loadCred(t, "rsa-signing", keys.UseSigning, keys.RoleCurrent)},
			Encryption: []*keys.Credential{loadCred(t, "rsa-encryption", keys.UseEncryption, keys.RoleCurrent)},
		},
		EncryptionMethods: []string{encAES256GCM, encRSAOAEP},
		Now:               clock,
	}
}

func mustBuild(t testing.TB, in Input) *Published {
	t.Helper()
	p, err := Build(in)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}
