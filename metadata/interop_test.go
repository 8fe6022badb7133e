package metadata

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
)

// TestSignedVerifiesWithXmlsec1 checks the metadata signature with
// xmlsec1, trusting only the certificate the signing.pem endpoint serves,
// and checks that a tampered document fails.
func TestSignedVerifiesWithXmlsec1(t *testing.T) {
	xmlsec1 := tooltest.Path(t, "xmlsec1")
	for _, tc := range []struct {
		name, key, algorithm, wantMethod string
		federation                       bool
	}{
		{"rsa with every federation element", "rsa-signing", "", "xmldsig-more#rsa-sha256", true},
		{"rsa default algorithm", "rsa-signing", "", "xmldsig-more#rsa-sha256", false},
		{"rsa-sha512", "rsa-signing", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", "xmldsig-more#rsa-sha512", false},
		{"ec default algorithm", "ec-signing", "", "xmldsig-more#ecdsa-sha256", false},
		{"ecdsa-sha384", "ec-signing", "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", "xmldsig-more#ecdsa-sha384", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			if tc.federation {
				in.SP = federationSP()
			}
			in.SP.Metadata.Signed = true
			in.SP.Metadata.SignatureAlgorithm = tc.algorithm
			in.Keys.Signing = []*keys.Credential{loadCred(t, tc.key, keys.UseSigning, keys.RoleCurrent)}
			p := mustBuild(t, in)
			md := p.Metadata()
			if !bytes.Contains(md, []byte(`<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/`+tc.wantMethod+`"`)) {
				t.Errorf("signature method is not %s", tc.wantMethod)
			}
			if !bytes.Contains(md, []byte(`<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"`)) {
				t.Error("canonicalization is not exclusive c14n")
			}
			// ds:Signature must be EntityDescriptor's first child element.
			ed := descriptorsRoot(t, md)
			if first := ed.ChildElements()[0]; first.Tag != "Signature" {
				t.Errorf("first child of EntityDescriptor is %s, want Signature", first.Tag)
			}
			// Fetch signing.pem through the handler, as an IdP admin would.
			resp := get(t, NewHandler(fixedSource{p}, nil), "/saml/certs/signing.pem", nil)
			dir := t.TempDir()
			pemPath := filepath.Join(dir, "signing.pem")
			write(t, pemPath, resp.Body.Bytes())
			good := filepath.Join(dir, "metadata.xml")
			write(t, good, md)
			verify := func(file string) ([]byte, error) {
				return exec.Command(xmlsec1, "--verify", "--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor",
					"--pubkey-cert-pem", pemPath, file).CombinedOutput()
			}
			if out, err := verify(good); err != nil {
				t.Fatalf("xmlsec1 --verify rejected the signed metadata: %v\n%s", err, out)
			}
			bad := filepath.Join(dir, "tampered.xml")
			write(t, bad, bytes.Replace(md, []byte("https://sp.example.com/saml/acs"), []byte("https://evil.example.com/saml/acs"), 1))
			if out, err := verify(bad); err == nil {
				t.Fatalf("xmlsec1 --verify accepted tampered metadata:\n%s", out)
			}
		})
	}
}

// TestPEMMatchesOpenSSL checks the PEM and DER files decode with openssl
// to the same certificate.
func TestPEMMatchesOpenSSL(t *testing.T) {
	openssl := tooltest.Path(t, "openssl")
	p := mustBuild(t, testInput(t))
	dir := t.TempDir()
	for _, u := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		pemPath, derPath := filepath.Join(dir, string(u)+".pem"), filepath.Join(dir, string(u)+".crt")
		write(t, pemPath, p.PEM(u))
		write(t, derPath, p.DER(u))
		fromPEM, err := exec.Command(openssl, "x509", "-in", pemPath, "-outform", "DER").Output()
		if err != nil {
			t.Fatalf("openssl x509 %s: %v", pemPath, err)
		}
		fromDER, err := exec.Command(openssl, "x509", "-inform", "DER", "-in", derPath, "-outform", "DER").Output()
		if err != nil {
			t.Fatalf("openssl x509 %s: %v", derPath, err)
		}
		if !bytes.Equal(fromPEM, fromDER) || !bytes.Equal(fromDER, p.DER(u)) {
			t.Errorf("%s: openssl reads different certificates from the PEM and DER files", u)
		}
	}
}

func opensslFingerprint(t *testing.T, c *keys.Credential, digest string) string {
	t.Helper()
	openssl := tooltest.Path(t, "openssl")
	path := filepath.Join(t.TempDir(), "cert.pem")
	write(t, path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf().Raw}))
	out, err := exec.Command(openssl, "x509", "-noout", "-fingerprint", digest, "-in", path).Output()
	if err != nil {
		t.Fatalf("openssl fingerprint: %v", err)
	}
	_, fp, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	return fp
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSignedVerifiesWithGoxmldsig checks RSA-signed metadata with
// goxmldsig's validator, which crewjam/saml-based IdPs use. (ECDSA is
// left out on purpose: goxmldsig v1.6.1 expects ASN.1 DER ECDSA
// signatures, while XML-DSig and xmlsec1 require r||s, which we write.)
func TestSignedVerifiesWithGoxmldsig(t *testing.T) {
	in := testInput(t)
	in.SP.Metadata.Signed = true
	p := mustBuild(t, in)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(p.Metadata()); err != nil {
		t.Fatal(err)
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{in.Keys.Signing[0].Leaf()}})
	ctx.Clock = dsig.NewFakeClockAt(clock)
	if _, err := ctx.Validate(doc.Root()); err != nil {
		t.Fatalf("goxmldsig rejects the signed metadata: %v", err)
	}
	// Signed by a key the validator does not trust: rejected.
	other := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{in.Keys.Encryption[0].Leaf()}})
	other.Clock = dsig.NewFakeClockAt(clock)
	if _, err := other.Validate(doc.Root()); err == nil {
		t.Fatal("goxmldsig accepted a signature by an untrusted certificate")
	}
}
