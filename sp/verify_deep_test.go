package sp

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
)

// TestVerifyPOSTDeepDocument refuses a ds:Signature holding a thousand
// nested elements named Signature (about etree's depth limit of 1024) in
// the structure pass, before any tree is built or namespace resolved.
func TestVerifyPOSTDeepDocument(t *testing.T) {
	const depth = 1000
	doc := `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_d" Version="2.0">` +
		`<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` +
		strings.Repeat("<Signature>", depth) + strings.Repeat("</Signature>", depth) + `</ds:Signature></samlp:LogoutRequest>`
	if len(doc) > MaxResponseXML {
		t.Fatalf("fixture is %d bytes, over the cap", len(doc))
	}
	_, err := VerifyPOST(url.Values{"SAMLRequest": {b64([]byte(doc))}}, []*x509.Certificate{credential(t, "rsa2048").Leaf()}, false, verifyNow)
	wantMessageCheck(t, err, CheckMalformed)
	if !strings.Contains(err.Error(), "max_depth") {
		t.Fatalf("err = %v, want the depth limit named", err)
	}
}
