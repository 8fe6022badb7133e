package sp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// VerifyRedirect takes the query string exactly as it arrived and the
// sender's signing certificates; a changed parameter is a *MessageError
// naming the check.
func ExampleVerifyRedirect() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sender"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	// Any signed redirect message will do; here, one samlkeyd signs.
	svc, err := sp.New(sp.Settings{
		EntityID: "https://sp.example.com/saml/metadata",
		ACS:      []config.Endpoint{{Binding: "post", Location: "https://sp.example.com/saml/acs", Default: true}},
		IdPs: []config.IdP{{Name: "corp", SignLogoutRequest: true, SignatureAlgorithm: "ecdsa-sha256",
			SSO: config.Endpoint{Binding: "redirect", Location: "https://idp.example.com/sso"},
			SLO: config.Endpoint{Binding: "redirect", Location: "https://idp.example.com/slo"}}},
		Signing: &keys.Credential{Role: keys.RoleCurrent, Signer: key, Chain: []*x509.Certificate{cert}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := svc.LogoutRequest(sp.LogoutOptions{IdP: "corp", NameID: "user@example.com", RelayState: "r1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	u, _ := url.Parse(m.URL)

	got, err := sp.VerifyRedirect(u.RawQuery, []*x509.Certificate{cert}, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Kind, got.RelayState, got.Signer == cert)

	_, err = sp.VerifyRedirect(strings.Replace(u.RawQuery, "RelayState=r1", "RelayState=r2", 1), []*x509.Certificate{cert}, false)
	var me *sp.MessageError
	fmt.Println(errors.As(err, &me), me.Check)
	// Output:
	// LogoutRequest r1 true
	// true signature
}
