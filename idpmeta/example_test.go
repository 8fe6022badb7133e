package idpmeta_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/idpmeta"
)

// ExampleVerifyAggregateFile verifies a federation aggregate with the
// federation's signing certificate and looks an IdP up by entity id.
func ExampleVerifyAggregateFile() {
	b, _ := os.ReadFile("testdata/cert0.pem")
	blk, _ := pem.Decode(b)
	signer, _ := x509.ParseCertificate(blk.Bytes)
	a, err := idpmeta.VerifyAggregateFile("testdata/aggregate.xml", idpmeta.VerifyOptions{
		Source: "fed", Signer: signer, Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Println(err)
		return
	}
	e := a.Lookup("https://idp.uni-b.example/idp")
	fmt.Println(a.Len(), "IdPs; valid until", a.ValidUntil.Format(time.DateOnly), "; cache", a.CacheDuration)
	fmt.Println(e.EntityID, e.SSO[0].Location)
	// Output:
	// 2 IdPs; valid until 2045-01-01 ; cache 6h0m0s
	// https://idp.uni-b.example/idp https://idp.uni-b.example/sso
}
