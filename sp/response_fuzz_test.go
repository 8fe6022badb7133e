package sp

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
)

// respFuzzSeeds returns the XML documents the response fuzzers start from:
// crewjam/saml IdP responses (plain and encrypted), its XSW permutations,
// its xmlenc corpus and crashers, and a stdlib-encrypted assertion.
func respFuzzSeeds(f *testing.F, patterns ...string) [][]byte {
	f.Helper()
	_, encCur := respKey(f, "enc-current")
	seeds := [][]byte{
		crewjamResponse(f, crewjamOpts{}),
		crewjamResponse(f, crewjamOpts{encryptTo: encCur}),
		[]byte(`<!DOCTYPE r [<!ENTITY a "aa">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0">&a;</samlp:Response>`),
	}
	d := testDecrypter(f, "enc-current")
	el := goEncrypted(f, []byte(`<a/>`), d.creds[0].cert.PublicKey.(*rsa.PublicKey), KeyTransportRSAOAEPMGF1P, "", &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1})
	if b, err := elementBytes(el); err == nil {
		seeds = append(seeds, b)
	}
	for _, pattern := range patterns {
		files, err := filepath.Glob(respTestdata(pattern))
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if dec, err := base64.StdEncoding.DecodeString(stripSpace(string(b))); err == nil {
				b = dec
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzResponse feeds Verify arbitrary documents, both base64-encoded (as
// posted) and raw: it must refuse with a *ResponseError, never panic.
func FuzzResponse(f *testing.F) {
	for _, s := range respFuzzSeeds(f, "crewjam/TestXsw*", "xmlenc-seeds/*") {
		f.Add(s)
	}
	s := respSettings(f)
	s.IdPs[0].EncryptAssertion = false
	v := respValidator(f, s)
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, in := range []string{base64.StdEncoding.EncodeToString(doc), string(doc)} {
			_, err := v.Verify(context.Background(), "corp", in, "")
			var re *ResponseError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *ResponseError", err, err)
			}
		}
	})
}

// FuzzResponseDecrypt feeds the decrypter arbitrary XML: every element
// that holds an xenc:EncryptedData is decrypted; errors are fine, panics
// are not.
func FuzzResponseDecrypt(f *testing.F) {
	for _, s := range respFuzzSeeds(f, "xmlenc-seeds/*")[1:] { // [0], a plain response, has nothing to decrypt
		f.Add(s)
	}
	d := testDecrypter(f, "enc-current", "enc-next")
	d.allowRSA15 = true
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > MaxResponseXML {
			return
		}
		parsed, err := parseXML(doc, Limits{})
		if err != nil {
			return
		}
		for _, data := range parsed.FindElements("//EncryptedData") {
			if p := data.Parent(); p != nil {
				_, _ = d.decrypt(p)
			}
		}
	})
}

func elementBytes(el *etree.Element) ([]byte, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el.Copy())
	return doc.WriteToBytes()
}
