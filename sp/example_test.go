package sp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// A snapshot builds one Service from the config and the current signing
// credential; each API request is then one call.
func ExampleService_AuthnRequest() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sp"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)

	svc, err := sp.New(sp.Settings{
		EntityID: "https://sp.example.com/saml/metadata",
		ACS:      []config.Endpoint{{Binding: "post", Location: "https://sp.example.com/saml/acs", Default: true}},
		IdPs: []config.IdP{{
			Name:               "corp",
			SSO:                config.Endpoint{Binding: "redirect", Location: "https://idp.example.com/sso"},
			SignatureAlgorithm: "ecdsa-sha256",
			SignAuthnRequest:   true,
		}},
		Signing: &keys.Credential{Role: keys.RoleCurrent, Signer: key, Chain: []*x509.Certificate{cert}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := svc.AuthnRequest(sp.AuthnOptions{IdP: "corp", RelayState: "/after-login"})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(m.URL)
	q := u.Query()
	fmt.Println(m.Binding, u.Host+u.Path, len(m.ID))
	fmt.Println(q.Get("RelayState"), q.Get("SigAlg"), q.Get("Signature") != "")
	// Output:
	// redirect idp.example.com/sso 41
	// /after-login http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256 true
}
