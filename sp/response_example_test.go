package sp_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
)

// ExampleResponseValidator_Verify builds a validator for one IdP and shows
// how a refusal names its check, which the HTTP API returns as
// {"error": check, "detail": ...}.
func ExampleResponseValidator_Verify() {
	certPEM, err := os.ReadFile("testdata/response/idp.crt")
	if err != nil {
		panic(err)
	}
	block, _ := pem.Decode(certPEM)
	idpCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic(err)
	}
	v, err := sp.NewResponseValidator(sp.ResponseSettings{
		EntityID: "https://sp.example.com/saml/metadata",
		ACSURLs:  []string{"https://sp.example.com/saml/acs"},
		IdPs: []sp.ResponseIdP{{Name: "corp", EntityID: "https://idp.example.com/metadata",
			SigningCerts: []*x509.Certificate{idpCert}, WantAssertionSigned: true}},
		Now: func() time.Time { return time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	// The SAMLResponse form value as the browser posted it.
	_, err = v.Verify(context.Background(), "corp", "PHNhbWxwOlJlc3BvbnNlLz4=", "")
	var re *sp.ResponseError
	if errors.As(err, &re) {
		fmt.Println(re.Check)
	}
	// Output: malformed
}
