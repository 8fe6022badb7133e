package sp_test

import (
	"context"
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

// VerifyLogout checks what an IdP sent to the SP's SLO endpoint; the
// application then answers an IdP-initiated LogoutRequest with
// Service.LogoutResponse.
func ExampleResponseValidator_VerifyLogout() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	idpCert, _ := x509.ParseCertificate(der)
	// The IdP's LogoutRequest: here signed by an sp.Service playing the IdP.
	idp, err := sp.New(sp.Settings{
		EntityID: "https://idp.example.com/metadata",
		IdPs: []config.IdP{{Name: "sp", SignLogoutRequest: true, SignatureAlgorithm: "ecdsa-sha256",
			SSO: config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/acs"},
			SLO: config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/slo"}}},
		Signing: &keys.Credential{Role: keys.RoleCurrent, Signer: key, Chain: []*x509.Certificate{idpCert}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := idp.LogoutRequest(sp.LogoutOptions{IdP: "sp", NameID: "alice@example.com", SessionIndex: []string{"s1"}, RelayState: "/bye"})
	u, _ := url.Parse(req.URL)

	v, err := sp.NewResponseValidator(sp.ResponseSettings{
		EntityID: "https://sp.example.com/saml/metadata",
		ACSURLs:  []string{"https://sp.example.com/saml/acs"},
		SLOURLs:  []string{"https://sp.example.com/saml/slo"},
		IdPs:     []sp.ResponseIdP{{Name: "corp", EntityID: "https://idp.example.com/metadata", SigningCerts: []*x509.Certificate{idpCert}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := v.VerifyLogout(context.Background(), "corp", sp.LogoutInput{Binding: sp.BindingRedirect, Query: u.RawQuery}, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Kind, m.NameID, m.SessionIndexes, m.RelayState, m.Signed)

	_, err = v.VerifyLogout(context.Background(), "corp", sp.LogoutInput{Binding: sp.BindingRedirect, Query: u.RawQuery}, "")
	me, _ := sp.IsMessageRefusal(err)
	fmt.Println(me.Check)
	// Output:
	// LogoutRequest alice@example.com [s1] /bye true
	// replay
}
