package sp

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// postXML returns the decoded SAMLRequest of a POST-binding message.
func postXML(t testing.TB, m *Message) []byte {
	t.Helper()
	if m.Binding != BindingPOST || m.URL != "" {
		t.Fatalf("binding %q, url %q", m.Binding, m.URL)
	}
	x, err := base64.StdEncoding.DecodeString(m.Fields["SAMLRequest"])
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// xmlsecVerify runs xmlsec1 --verify on doc with the signing certificate's
// PEM, as the daemon publishes it.
func xmlsecVerify(t *testing.T, xmlsec string, doc []byte, cert *x509.Certificate, tag string) ([]byte, error) {
	t.Helper()
	dir := t.TempDir()
	certPath, docPath := filepath.Join(dir, "signing.pem"), filepath.Join(dir, "request.xml")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(docPath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", certPath,
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:"+tag, docPath).CombinedOutput()
}

func TestPOSTXmlsec1(t *testing.T) {
	xmlsec := tooltest.Path(t, "xmlsec1")
	type variant struct{ alg, digest string }
	var variants []variant
	for _, a := range Algorithms() {
		variants = append(variants, variant{a.URI, ""})
	}
	variants = append(variants, variant{RSASHA512, "sha256"}, variant{RSASHA256, DigestSHA512},
		variant{ECDSASHA384, "sha384"}, variant{RSASHA256, "sha1"})
	for _, v := range variants {
		a, _ := LookupAlgorithm(v.alg)
		t.Run(a.Name+"/digest="+v.digest, func(t *testing.T) {
			s := testSettings(t, keyFor(a))
			s.IdPs[0].SignatureAlgorithm, s.IdPs[0].DigestAlgorithm = v.alg, v.digest
			svc := newOrRefused(t, s)
			if svc == nil {
				return // SHA-1 in FIPS 140-3 mode: refused
			}
			authn, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: "rs",
				AuthnContext: []string{"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}})
			if err != nil {
				t.Fatal(err)
			}
			logout, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", Binding: BindingPOST, NameID: "ü<&>@example.com",
				SessionIndex: []string{"s1"}})
			if err != nil {
				t.Fatal(err)
			}
			for tag, m := range map[string]*Message{"AuthnRequest": authn, "LogoutRequest": logout} {
				doc := postXML(t, m)
				checkSignaturePlacement(t, doc, a.URI)
				if out, err := xmlsecVerify(t, xmlsec, doc, s.Signing.Leaf(), tag); err != nil || !strings.Contains(string(out), "OK") {
					t.Fatalf("%s: xmlsec1 --verify: %v\n%s\n%s", tag, err, out, doc)
				}
				// One changed character in the signed content must fail.
				bad := []byte(strings.Replace(string(doc), "https://sp.example.com", "https://sp.example.org", 1))
				if out, err := xmlsecVerify(t, xmlsec, bad, s.Signing.Leaf(), tag); err == nil {
					t.Fatalf("%s: xmlsec1 verified a tampered document:\n%s", tag, out)
				}
				if a.Key == KeyRSA {
					goxmldsigVerify(t, doc, s.Signing.Leaf())
				}
			}
		})
	}
}

// checkSignaturePlacement asserts the schema's order: Issuer, then
// Signature, with a Reference to the root's ID.
func checkSignaturePlacement(t *testing.T, doc []byte, alg string) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	kids := d.Root().ChildElements()
	if len(kids) < 2 || kids[0].Tag != "Issuer" || kids[1].Tag != "Signature" || kids[1].NamespaceURI() != dsig.Namespace {
		t.Fatalf("children do not start Issuer, Signature:\n%s", doc)
	}
	ref := kids[1].FindElement("./SignedInfo/Reference")
	if ref == nil || ref.SelectAttrValue("URI", "") != "#"+d.Root().SelectAttrValue("ID", "-") {
		t.Errorf("Reference URI is not #ID:\n%s", doc)
	}
	if m := kids[1].FindElement("./SignedInfo/SignatureMethod"); m == nil || m.SelectAttrValue("Algorithm", "") != alg {
		t.Errorf("SignatureMethod is not %s", alg)
	}
	if m := kids[1].FindElement("./SignedInfo/CanonicalizationMethod"); m == nil ||
		m.SelectAttrValue("Algorithm", "") != "http://www.w3.org/2001/10/xml-exc-c14n#" {
		t.Errorf("CanonicalizationMethod is not exclusive c14n")
	}
}

// goxmldsigVerify checks an RSA enveloped signature with goxmldsig's
// validator, a second implementation beside xmlsec1. It is RSA only:
// goxmldsig verifies ECDSA values as ASN.1 DER, not XML-DSig's r||s.
func goxmldsigVerify(t *testing.T, doc []byte, cert *x509.Certificate) {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	if _, err := vc.Validate(d.Root()); err != nil {
		t.Errorf("goxmldsig Validate: %v", err)
	}
}

func TestPOSTForm(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SSO.Location = "https://idp.example.com/sso?a=1&b=%22"
	svc := mustNew(t, s)
	hostile := `"><script>alert(1)</script>&amp;'`
	m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: hostile})
	if err != nil {
		t.Fatal(err)
	}
	if m.Action != s.IdPs[0].SSO.Location || m.Fields["RelayState"] != hostile || len(m.Fields) != 2 {
		t.Errorf("action %q fields %q", m.Action, m.Fields)
	}
	page := m.HTML
	for _, want := range []string{
		`action="` + html.EscapeString(m.Action) + `"`,
		`name="RelayState" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;&#39;"`,
		`name="SAMLRequest" value="` + m.Fields["SAMLRequest"] + `"`,
		`<noscript><button type="submit">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "alert(1)</script>") || strings.Count(page, "<script") != 1 {
		t.Errorf("hostile RelayState reached the page unescaped:\n%s", page)
	}
	// The one inline script is allowed by the CSP hash, nothing else.
	start := strings.Index(page, "<script>") + len("<script>")
	script := page[start : start+strings.Index(page[start:], "</script>")]
	sum := sha256.Sum256([]byte(script))
	wantSrc := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
	if !strings.Contains(m.CSP, wantSrc) || !strings.HasPrefix(m.CSP, "default-src 'none';") ||
		!strings.Contains(m.CSP, "form-action https://idp.example.com;") || strings.Contains(m.CSP, "unsafe-inline") {
		t.Errorf("CSP %q does not allow exactly the page's script (%s)", m.CSP, wantSrc)
	}
	if strings.Contains(page, " on") || strings.Contains(page, "style") {
		t.Errorf("page has inline handlers or styles a strict CSP blocks:\n%s", page)
	}
}
