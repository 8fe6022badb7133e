package sp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
)

// fipsCase is one input sp refuses in FIPS 140-3 mode only. err runs it
// and returns what sp said; want is in the refusal's text.
type fipsCase struct {
	name string
	err  func(t *testing.T) error
	want string
	// offOK: with the mode off the input is accepted (err is nil);
	// otherwise it fails for reasons of its own, never keys/fips's.
	offOK bool
}

// TestFIPSRefusals runs every case with the mode off (where none is a
// keys/fips refusal) and again, through fipstest, with GODEBUG=fips140=on,
// where each must be refused with an error naming the algorithm and the
// mode.
func TestFIPSRefusals(t *testing.T) {
	in := fipstest.InMode(t)
	for _, c := range fipsCases() {
		t.Run(c.name, func(t *testing.T) {
			err := c.err(t)
			if !in {
				if errors.Is(err, fips.ErrRefused) || c.offOK && err != nil {
					t.Fatalf("mode off: %v", err)
				}
				return
			}
			wantFIPSRefusal(t, err)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
	methods := EncryptionMethods()
	if slices.Contains(methods, ContentTripleDESCBC) == in {
		t.Errorf("EncryptionMethods = %q in mode %v", methods, in)
	}
	if !slices.Contains(methods, KeyTransportRSAOAEPMGF1P) {
		t.Errorf("EncryptionMethods = %q: rsa-oaep-mgf1p (OAEP with SHA-1) stays accepted in both modes", methods)
	}
}

func fipsCases() []fipsCase {
	newWith := func(edit func(*testing.T, *Settings)) func(t *testing.T) error {
		return func(t *testing.T) error {
			s := testSettings(t, "rsa2048")
			edit(t, &s)
			_, err := New(s)
			return err
		}
	}
	return []fipsCase{
		{"sign with rsa-sha1", newWith(func(_ *testing.T, s *Settings) { s.IdPs[0].SignatureAlgorithm = "rsa-sha1" }),
			`idp "corp" signature_algorithm: rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode`, true},
		{"sign with a sha1 digest", newWith(func(_ *testing.T, s *Settings) { s.IdPs[0].DigestAlgorithm = "sha1" }),
			`idp "corp" digest_algorithm: sha1 (http://www.w3.org/2000/09/xmldsig#sha1) is refused in FIPS 140-3 mode`, true},
		{"signing key of 1024 bits", newWith(func(t *testing.T, s *Settings) {
			s.Signing = credential(t, "rsa1024")
			s.Signing.RecordName = "Old SP key"
			s.IdPs[0].SignAuthnRequest = false
		}), `signing credential "Old SP key": an RSA key of 1024 bits is refused in FIPS 140-3 mode`, false},
		{"decryption key of 1024 bits", func(t *testing.T) error {
			s := respSettings(t)
			c := credential(t, "rsa1024")
			c.RecordName, c.Role = "Old encryption key", keys.RolePrevious
			s.Decryption = append(s.Decryption, c)
			_, err := NewResponseValidator(s)
			return err
		}, `decryption credential "Old encryption key" (previous): an RSA key of 1024 bits is refused in FIPS 140-3 mode`, true},
		{"redirect signed with rsa-sha1, allowed", func(t *testing.T) error {
			m, cert := redirectFor(t)
			key, _ := respKey(t, "idp")
			_, err := VerifyRedirect(rawQuery(t, resignRedirect(t, m.URL, key, RSASHA1)), cert, true)
			return err
		}, "signature algorithm rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode", true},
		{"redirect SigAlg ecdsa-sha1", sigAlgRedirect("http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"), "ecdsa-sha1", false},
		{"redirect SigAlg dsa-sha1", sigAlgRedirect("http://www.w3.org/2000/09/xmldsig#dsa-sha1"), "dsa-sha1", false},
		{"POST SignatureMethod rsa-sha1, allowed", editedPOST(func(r *etree.Element) {
			childNS(r, nsDSig, "Signature").FindElement(".//SignatureMethod").CreateAttr("Algorithm", RSASHA1)
		}), "signature algorithm rsa-sha1", false},
		{"POST DigestMethod sha1, allowed", editedPOST(func(r *etree.Element) {
			childNS(r, nsDSig, "Signature").FindElement(".//DigestMethod").CreateAttr("Algorithm", DigestSHA1)
		}), "digest algorithm sha1 (http://www.w3.org/2000/09/xmldsig#sha1) is refused in FIPS 140-3 mode", false},
		{"tripledes-cbc content", encrypted(ContentTripleDESCBC, KeyTransportRSAOAEPMGF1P, false),
			"EncryptedData algorithm tripledes-cbc (http://www.w3.org/2001/04/xmlenc#tripledes-cbc) is refused in FIPS 140-3 mode", false},
		{"rsa-1_5 key transport, allowed", encrypted(ContentAES256CBC, KeyTransportRSA15, true),
			"EncryptedKey algorithm rsa-1_5 (http://www.w3.org/2001/04/xmlenc#rsa-1_5) is refused in FIPS 140-3 mode", false},
	}
}

// redirectFor returns a redirect AuthnRequest the test IdP key signs with
// rsa-sha256 (to be re-signed) and the certificate that verifies it.
func redirectFor(t *testing.T) (*Message, []*x509.Certificate) {
	t.Helper()
	m, err := fakeIdP(t, "", RSASHA256, true).LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	_, cert := respKey(t, "idp")
	return m, []*x509.Certificate{cert}
}

func sigAlgRedirect(uri string) func(t *testing.T) error {
	return func(t *testing.T) error {
		m, cert := redirectFor(t)
		q := strings.Replace(rawQuery(t, m.URL), url.QueryEscape(RSASHA256), url.QueryEscape(uri), 1)
		_, err := VerifyRedirect(q, cert, true)
		return err
	}
}

func editedPOST(edit func(*etree.Element)) func(t *testing.T) error {
	return func(t *testing.T) error {
		s := testSettings(t, "rsa2048")
		m, err := mustNew(t, s).AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST})
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyPOST(editPOST(t, postForm(m), edit), []*x509.Certificate{s.Signing.Leaf()}, true, verifyNow)
		return err
	}
}

// encrypted decrypts an EncryptedID with the content algorithm content and
// key transport keyAlg, with rsa-1_5 allowed when allow15.
func encrypted(content, keyAlg string, allow15 bool) func(t *testing.T) error {
	return func(t *testing.T) error {
		d := testDecrypter(t, "enc-current")
		d.allowRSA15 = allow15
		pub := d.creds[0].cert.PublicKey.(*rsa.PublicKey)
		el := goEncrypted(t, []byte(`<a/>`), pub, KeyTransportRSAOAEPMGF1P, "", &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1})
		data := childNS(el, nsXMLEnc, "EncryptedData")
		childNS(data, nsXMLEnc, "EncryptionMethod").CreateAttr("Algorithm", content)
		ek := childNS(childNS(data, nsDSig, "KeyInfo"), nsXMLEnc, "EncryptedKey")
		childNS(ek, nsXMLEnc, "EncryptionMethod").CreateAttr("Algorithm", keyAlg)
		if keyAlg == KeyTransportRSA15 {
			//lint:ignore SA1019 the test plays an IdP that sends rsa-1_5.
			wrapped, err := rsa.EncryptPKCS1v15(rand.Reader, pub, make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			childNS(childNS(ek, nsXMLEnc, "CipherData"), nsXMLEnc, "CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
		}
		_, err := d.decrypt(el)
		return err
	}
}
