package main

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crewjam/saml"
)

const idpConfig = `idps:
  - name: corp
    entity_id: https://idp.example.com/metadata
    sso: {binding: redirect, location: https://idp.example.com/sso}
    slo: {binding: redirect, location: https://idp.example.com/slo}
    signature_algorithm: http://www.w3.org/2001/04/xmldsig-more#rsa-sha256
    sign_authn_request: true
    sign_logout_request: true
`

func TestMetadataAndPEMCommands(t *testing.T) {
	data := newStore(t)
	md := mustCLI(t, "--data", data, "metadata")
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal([]byte(md), &ed); err != nil {
		t.Fatalf("metadata output does not parse: %v", err)
	}
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		blk, _ := pem.Decode([]byte(mustCLI(t, "--data", data, "metadata", "pem", "--use", kd.Use)))
		der, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd.KeyInfo.X509Data.X509Certificates[0].Data), ""))
		if blk == nil || string(blk.Bytes) != string(der) {
			t.Errorf("metadata pem --use %s is not the metadata's %s certificate", kd.Use, kd.Use)
		}
	}

	signed := filepath.Join(t.TempDir(), "signed.xml")
	mustCLI(t, "--data", data, "metadata", "--signed", "--out", signed)
	fi, err := os.Stat(signed)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("metadata --out: %v %v", err, fi)
	}
	certFile := filepath.Join(t.TempDir(), "signing.pem")
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing", "--out", certFile)
	tool(t, "xmlsec1", "--verify", "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
		"--pubkey-cert-pem", certFile, signed)

	if _, err := cli(t, "--data", data, "metadata", "pem", "--use", "tls"); err == nil || !strings.Contains(err.Error(), "--use") {
		t.Fatalf("metadata pem --use tls: %v", err)
	}
}

// TestSignAuthnCommand checks the printed redirect URL against the spec
// (SAML bindings 3.4.4.1) with only crypto, using the published certificate.
func TestSignAuthnCommand(t *testing.T) {
	data := newStore(t)
	cfg := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(idpConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	relay := "a&SigAlg=evil #%+ ü"
	out := strings.TrimSpace(mustCLI(t, "--config", cfg, "--data", data, "sign", "authn", "--idp", "corp", "--relay-state", relay))
	u, err := url.Parse(out)
	if err != nil || u.Host != "idp.example.com" {
		t.Fatalf("sign authn printed %q", out)
	}
	q, _ := url.ParseQuery(u.RawQuery)
	if q.Get("RelayState") != relay || len(q["SigAlg"]) != 1 {
		t.Fatalf("query %v: RelayState %q, %d SigAlg", q, q.Get("RelayState"), len(q["SigAlg"]))
	}
	// The signed octets are the raw query up to &Signature=.
	signed, _, ok := strings.Cut(u.RawQuery, "&Signature=")
	if !ok {
		t.Fatal("no Signature parameter")
	}
	blk, _ := pem.Decode([]byte(mustCLI(t, "--config", cfg, "--data", data, "metadata", "pem", "--use", "signing")))
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("redirect signature does not verify with the published signing certificate: %v", err)
	}

	logout := mustCLI(t, "--config", cfg, "--data", data, "sign", "logout", "--idp", "corp", "--name-id", "alice@example.com", "--binding", "post")
	if !strings.Contains(logout, `<form method="post" action="https://idp.example.com/slo">`) {
		t.Fatalf("sign logout --binding post printed %q", logout)
	}
	if _, err := cli(t, "--config", cfg, "--data", data, "sign", "authn", "--idp", "nobody"); err == nil {
		t.Fatal("sign authn for an unknown IdP succeeded")
	}
}
