//go:build cgo

package daemon

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/sp"
)

// pkcs11XMLSec: xmlsec1, trusting only the certificates the daemon serves,
// verifies the metadata and a POST AuthnRequest the daemon signed through
// the token, and an assertion xmlsec1 encrypted to the token's published
// encryption certificate decrypts through the token. d serves signed
// metadata from token keys (see TestPKCS11Records).
func pkcs11XMLSec(t *testing.T, d *Daemon, idp *testIdP) {
	xmlsec := tooltest.Path(t, "xmlsec1")
	h := d.Handler()
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signingPEM := file("signing.pem", get(t, h, "/saml/certs/signing.pem").Body.Bytes())
	encryptionPEM := file("encryption.pem", get(t, h, "/saml/certs/encryption.pem").Body.Bytes())
	metadata := get(t, h, "/saml/metadata").Body.Bytes()
	verify := func(name string, doc []byte, idAttr string) {
		t.Helper()
		out, err := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", signingPEM, "--id-attr:ID", idAttr, file(name, doc)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK") {
			t.Fatalf("xmlsec1 --verify %s signed through the token: %v\n%s", name, err, out)
		}
	}

	t.Run("metadata", func(t *testing.T) {
		if !strings.Contains(string(metadata), "<ds:Signature") {
			t.Fatal("metadata is not signed")
		}
		verify("metadata.xml", metadata, "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor")
		tampered := strings.Replace(string(metadata), "https://sp.example.com/saml/acs", "https://evil.example.com/saml/acs", 1)
		if out, err := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", signingPEM, "--id-attr:ID",
			"urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", file("tampered.xml", []byte(tampered))).CombinedOutput(); err == nil {
			t.Fatalf("xmlsec1 accepted tampered metadata:\n%s", out)
		}
	})

	t.Run("POST AuthnRequest", func(t *testing.T) {
		msg, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: sp.BindingPOST})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := base64.StdEncoding.DecodeString(msg.Fields["SAMLRequest"])
		if err != nil {
			t.Fatal(err)
		}
		verify("authn.xml", doc, "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest")
	})

	t.Run("assertion encrypted by xmlsec1", func(t *testing.T) {
		for _, tc := range []struct{ name, content, session string }{
			{"rsa-oaep-mgf1p aes128-cbc", "http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"},
			{"rsa-oaep-mgf1p aes256-gcm", "http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "_xmlsec_" + strings.NewReplacer(" ", "_", "-", "_").Replace(tc.name)
				resp := idp.respondXMLSecEncrypted(t, xmlsec, metadata, encryptionPEM, id, tc.content, tc.session)
				body, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp, "request_id": id})
				w := postJSON(t, h, "/api/v1/responses", testToken, string(body))
				if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "alice@example.com") {
					t.Fatalf("assertion xmlsec1 encrypted to the token's certificate: %d %s", w.Code, w.Body)
				}
			})
		}
	})
}

// respondXMLSecEncrypted answers requestID with an assertion the IdP signs
// and xmlsec1 (not crewjam) encrypts to the certificate at certPEM with
// RSA-OAEP (SHA-1, rsa-oaep-mgf1p) key transport and the content
// algorithm given; the Response itself is left unsigned.
func (p *testIdP) respondXMLSecEncrypted(t *testing.T, xmlsec string, metadata []byte, certPEM, requestID, content, session string) string {
	t.Helper()
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &md); err != nil {
		t.Fatal(err)
	}
	spsso := md.SPSSODescriptors[0]
	spsso.KeyDescriptors = nil // crewjam encrypts to any it finds: leave it a plain assertion
	now := time.Now()
	req := &saml.IdpAuthnRequest{
		IDP: p.idp, HTTPRequest: httptest.NewRequest("POST", "https://idp.example.com/sso", nil),
		Request:                 saml.AuthnRequest{ID: requestID, IssueInstant: now},
		ServiceProviderMetadata: &md, SPSSODescriptor: &spsso,
		ACSEndpoint: &spsso.AssertionConsumerServices[0], Now: now,
	}
	sess := &saml.Session{NameID: "alice@example.com", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Index: "session-1", UserEmail: "alice@example.com", CreateTime: now}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, sess); err != nil {
		t.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	root := req.ResponseEl
	for _, sig := range root.SelectElements("Signature") {
		root.RemoveChild(sig)
	}
	as := root.SelectElement("Assertion")
	if as == nil {
		t.Fatal("the IdP's response has no plain assertion")
	}
	asDoc := etree.NewDocument()
	asDoc.SetRoot(as.Copy())
	asXML, err := asDoc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := `<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<xenc:EncryptionMethod Algorithm="` + content + `"/><ds:KeyInfo><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod>` +
		`<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>`
	dir := t.TempDir()
	tmplPath, dataPath, out := filepath.Join(dir, "tmpl.xml"), filepath.Join(dir, "assertion.xml"), filepath.Join(dir, "out.xml")
	for path, b := range map[string][]byte{tmplPath: []byte(tmpl), dataPath: asXML} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(xmlsec, "--encrypt", "--pubkey-cert-pem", certPEM, "--session-key", session,
		"--xml-data", dataPath, "--node-name", "urn:oasis:names:tc:SAML:2.0:assertion:Assertion", "--output", out, tmplPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --encrypt: %v\n%s", err, b)
	}
	enc := etree.NewDocument()
	if err := enc.ReadFromFile(out); err != nil {
		t.Fatal(err)
	}
	wrapper := etree.NewElement("saml:EncryptedAssertion")
	wrapper.AddChild(enc.Root())
	root.InsertChildAt(as.Index(), wrapper)
	root.RemoveChild(as)
	doc := etree.NewDocument()
	doc.SetRoot(root)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}
