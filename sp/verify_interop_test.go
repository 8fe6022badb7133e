package sp

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"crypto/x509"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// idpLogoutTemplate is a LogoutRequest as an IdP sends it, with the
// signature template xmlsec1 fills in.
const idpLogoutTemplate = `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_idp-logout-1" Version="2.0" IssueInstant="2026-12-01T00:00:00Z" Destination="https://sp.example.com/saml/slo"><saml:Issuer>https://idp.example.com/metadata</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="SIGALG"/><ds:Reference URI="#_idp-logout-1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature><saml:NameID>u@example.com</saml:NameID><samlp:SessionIndex>_s1</samlp:SessionIndex></samlp:LogoutRequest>`

// TestVerifyPOSTXmlsec1Signed verifies LogoutRequests that xmlsec1 signed
// (RSA, and ECDSA in XML-DSig 1.1's r||s form), and refuses them once
// changed.
func TestVerifyPOSTXmlsec1Signed(t *testing.T) {
	xmlsec := tooltest.Path(t, "xmlsec1")
	for _, tt := range []struct{ key, alg string }{{"rsa2048", RSASHA256}, {"ecp256", ECDSASHA256}, {"ecp384", ECDSASHA384}} {
		t.Run(tt.key, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.xml"), filepath.Join(dir, "out.xml")
			if err := os.WriteFile(in, []byte(strings.Replace(idpLogoutTemplate, "SIGALG", tt.alg, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			keyPair := filepath.Join("testdata", tt.key+".key") + "," + filepath.Join("testdata", tt.key+".crt")
			if b, err := exec.Command(xmlsec, "--sign", "--privkey-pem", keyPair, "--id-attr:ID",
				"urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest", "--output", out, in).CombinedOutput(); err != nil {
				t.Fatalf("xmlsec1 --sign: %v\n%s", err, b)
			}
			signed, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			certs := []*x509.Certificate{credential(t, tt.key).Leaf()}
			got, err := VerifyPOST(url.Values{"SAMLRequest": {b64(signed)}, "RelayState": {"rs"}}, certs, false, verifyNow)
			if err != nil {
				t.Fatalf("VerifyPOST of an xmlsec1 signature: %v\n%s", err, signed)
			}
			if got.Kind != "LogoutRequest" || got.ID != "_idp-logout-1" || got.RelayState != "rs" || !strings.Contains(string(got.XML), "u@example.com") {
				t.Fatalf("message %+v", got)
			}
			bad := strings.Replace(string(signed), "u@example.com", "v@example.com", 1)
			_, err = VerifyPOST(url.Values{"SAMLRequest": {b64([]byte(bad))}}, certs, false, verifyNow)
			wantMessageCheck(t, err, CheckSignature)
		})
	}
}
