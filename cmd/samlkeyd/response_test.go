package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResponseVerifyRefusals(t *testing.T) {
	data := newStore(t)
	dir := t.TempDir()
	// An IdP whose signing certificate is a trust-store record: the
	// base signing certificate stands in for it.
	certFile := filepath.Join(dir, "idp.pem")
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing", "--out", certFile)
	mustCLI(t, "--data", data, "cert", "add", "--name", "Corp IdP signing", "--type", "trust_store_cert", "--file", certFile)
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(idpConfig+"    signing_certs: [\"Corp IdP signing\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"not base64", "%%%", "refused: malformed"},
		{"not a Response", "PHg+PC94Pg==", "refused: malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, "resp.b64")
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := cli(t, "--config", cfg, "--data", data, "response", "verify", "--idp", "corp", "--file", f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("response verify: %v, want %q", err, tc.want)
			}
		})
	}
	_, err := cli(t, "--config", cfg, "--data", data, "response", "verify", "--idp", "nobody", "--file", certFile)
	if err == nil || !strings.Contains(err.Error(), "unknown_idp") {
		t.Fatalf("unknown IdP: %v", err)
	}
}

// TestResponseVerifyCBCOracle: chosen aes128-cbc ciphertexts in an
// unsigned Response (bad padding, an illegal XML character) get
// byte-identical answers from `response verify` (issue 13).
func TestResponseVerifyCBCOracle(t *testing.T) {
	data := newStore(t)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "idp.pem")
	encFile := filepath.Join(dir, "enc.pem")
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing", "--out", certFile)
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "encryption", "--out", encFile)
	mustCLI(t, "--data", data, "cert", "add", "--name", "Corp IdP signing", "--type", "trust_store_cert", "--file", certFile)
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(idpConfig+"    signing_certs: [\"Corp IdP signing\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(encFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 16)
	wrapped, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, cert.PublicKey.(*rsa.PublicKey), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, plain := range [][]byte{
		append([]byte("<a/>"), make([]byte, 12)...),                 // last byte 0: "padding must be at least one byte"
		append([]byte("<a>\x01</a>"), 0, 0, 0, 0, 0, 0, 0, 8),       // valid padding, "illegal character code U+0001"
		append([]byte("<x/>"), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12), // valid, not an Assertion
	} {
		block, _ := aes.NewCipher(key)
		ct := make([]byte, 16+len(plain))
		cipher.NewCBCEncrypter(block, ct[:16]).CryptBlocks(ct[16:], plain)
		doc := `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1" Version="2.0">` +
			`<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:EncryptedAssertion>` +
			`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` +
			`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><ds:KeyInfo><xenc:EncryptedKey>` +
			`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>` +
			`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(wrapped) + `</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>` +
			`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(ct) + `</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>` +
			`</saml:EncryptedAssertion></samlp:Response>`
		f := filepath.Join(dir, "resp.b64")
		if err := os.WriteFile(f, []byte(base64.StdEncoding.EncodeToString([]byte(doc))), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := cli(t, "--config", cfg, "--data", data, "response", "verify", "--idp", "corp", "--file", f)
		if err == nil {
			t.Fatalf("accepted: %s", out)
		}
		answers = append(answers, out+"\n"+err.Error())
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ:\n%q\n%q", answers[0], a)
		}
	}
	if !strings.Contains(answers[0], "refused: decrypt") || strings.Contains(answers[0], "padding") {
		t.Fatalf("answer %q", answers[0])
	}
}
