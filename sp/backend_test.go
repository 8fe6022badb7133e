package sp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
)

// The tests below run sp with RSA keys served by the binary's arithmetic
// backend (keys/openssl), as the daemon serves them: the key itself in the
// default build, the key imported into OpenSSL with -tags openssl.

// backendCred returns a copy of c with its RSA key in the backend.
func backendCred(t testing.TB, c *keys.Credential) *keys.Credential {
	t.Helper()
	k, err := openssl.NewRSA(c.Signer.(*rsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	cp := *c
	cp.Signer = k
	return &cp
}

// TestBackendSign: AuthnRequests signed with a backend key verify with its
// certificate, in both bindings and with SHA-256 and SHA-512.
func TestBackendSign(t *testing.T) {
	t.Logf("backend %s", openssl.Backend())
	cred := backendCred(t, credential(t, "rsa2048"))
	certs := []*x509.Certificate{cred.Leaf()}
	for _, alg := range []string{"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"} {
		t.Run(alg, func(t *testing.T) {
			s := testSettings(t, "rsa2048")
			s.Signing = cred
			s.IdPs[0].SignatureAlgorithm = alg
			svc := mustNew(t, s)
			m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "r"})
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(m.URL)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyRedirect(u.RawQuery, certs, false); err != nil {
				t.Errorf("redirect: %v", err)
			}
			m, err = svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "r", Binding: BindingPOST})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := VerifyPOST(url.Values{"SAMLRequest": {m.Fields["SAMLRequest"]}}, certs, false, cred.Leaf().NotBefore.Add(time.Hour)); err != nil {
				t.Errorf("POST: %v", err)
			}
		})
	}
}

// TestBackendDecrypt: a backend key unwraps every OAEP parameter set sp
// accepts, refuses a key wrapped for another certificate, and decrypts
// whole responses (crewjam/saml's IdP; xmlsec1's rsa-oaep-mgf1p and, with
// AllowRSA15, rsa-1_5).
func TestBackendDecrypt(t *testing.T) {
	d := testDecrypter(t, "enc-current")
	d.creds[0].key = backendCred(t, respCred(t, "enc-current", keys.RoleCurrent)).Signer.(crypto.Decrypter)
	pub := d.creds[0].cert.PublicKey.(*rsa.PublicKey)
	plain := []byte(`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice</saml:NameID>`)
	dm := func(uri string) string { return `<ds:DigestMethod Algorithm="` + uri + `"/>` }
	mgf := func(uri string) string { return `<xenc11:MGF Algorithm="` + uri + `"/>` }
	for _, tt := range []struct {
		name, alg, children string
		opts                rsa.OAEPOptions
	}{
		{"mgf1p sha1", KeyTransportRSAOAEPMGF1P, "", rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}},
		{"mgf1p sha256 digest, mgf1 sha1", KeyTransportRSAOAEPMGF1P, dm("http://www.w3.org/2001/04/xmlenc#sha256"), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}},
		{"xmlenc11 sha256, mgf1sha256", KeyTransportRSAOAEP, dm("http://www.w3.org/2001/04/xmlenc#sha256") + mgf("http://www.w3.org/2009/xmlenc11#mgf1sha256"), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}},
		{"xmlenc11 sha512, mgf1sha512", KeyTransportRSAOAEP, dm("http://www.w3.org/2001/04/xmlenc#sha512") + mgf("http://www.w3.org/2009/xmlenc11#mgf1sha512"), rsa.OAEPOptions{Hash: crypto.SHA512, MGFHash: crypto.SHA512}},
		{"label", KeyTransportRSAOAEP, `<xenc:OAEPparams>bGFiZWw=</xenc:OAEPparams>`, rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1, Label: []byte("label")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			el, err := d.decrypt(goEncrypted(t, plain, pub, tt.alg, tt.children, &tt.opts))
			if err != nil {
				t.Fatal(err)
			}
			if el.Tag != "NameID" || el.Text() != "alice" {
				t.Errorf("decrypted %s %q", el.Tag, el.Text())
			}
		})
	}
	t.Run("wrapped for another key", func(t *testing.T) {
		_, other := respKey(t, "enc-next")
		el := goEncrypted(t, plain, other.PublicKey.(*rsa.PublicKey), KeyTransportRSAOAEPMGF1P, "", &rsa.OAEPOptions{Hash: crypto.SHA1})
		if _, err := d.decrypt(el); !errors.Is(err, ErrResponseUndecryptable) {
			t.Fatalf("error %v, want ErrResponseUndecryptable", err)
		}
	})

	settings := func(t *testing.T) ResponseSettings {
		s := respSettings(t)
		s.Decryption = []*keys.Credential{backendCred(t, respCred(t, "enc-current", keys.RoleCurrent))}
		return s
	}
	t.Run("crewjam response", func(t *testing.T) {
		_, cert := respKey(t, "enc-current")
		a, err := respValidator(t, settings(t)).Verify(context.Background(), "corp", b64(crewjamResponse(t, crewjamOpts{encryptTo: cert})), respRequestID)
		if err != nil || a.NameID != "alice@example.com" {
			t.Fatalf("verify: %+v, %v", a, err)
		}
	})
	t.Run("xmlsec1 responses", func(t *testing.T) {
		xmlsec := tooltest.Path(t, "xmlsec1")
		oaep := xmlsecOpts{keyTransport: KeyTransportRSAOAEPMGF1P, content: ContentAES256GCM, sessionKey: respSessAES, to: "enc-current"}
		rsa15 := oaep
		rsa15.keyTransport = KeyTransportRSA15
		wrong := rsa15
		wrong.to = "enc-next"
		for _, tt := range []struct {
			name  string
			o     xmlsecOpts
			allow bool
			ok    bool
		}{
			{"rsa-oaep-mgf1p", oaep, false, true},
			{"rsa-1_5 with AllowRSA15", rsa15, true, true},
			{"rsa-1_5 to another key", wrong, true, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s := settings(t)
				s.AllowRSA15 = tt.allow
				_, err := respValidator(t, s).Verify(context.Background(), "corp", b64(xmlsecResponse(t, xmlsec, tt.o, 0)), respRequestID)
				if tt.o.keyTransport == KeyTransportRSA15 && fips.Enabled() {
					wantFIPSRefusal(t, err) // even with AllowRSA15
					return
				}
				if tt.ok && err != nil {
					t.Fatal(err)
				}
				if !tt.ok {
					wantCheck(t, err, CheckDecrypt)
				}
			})
		}
	})
}
