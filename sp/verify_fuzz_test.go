package sp

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenQueries returns the raw queries of the golden redirect messages.
func goldenQueries(f *testing.F) []string {
	var out []string
	for _, name := range []string{"authn-redirect", "logout-redirect"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".url"))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, rawQuery(f, strings.TrimSpace(string(raw))))
	}
	return out
}

// FuzzVerifyRedirect feeds arbitrary query strings, seeded from the golden
// redirect messages and damaged copies, to VerifyRedirect and
// ParseRedirect: each must refuse with a *MessageError or return a message
// that agrees with the other; what verifies was signed by the fixture key.
func FuzzVerifyRedirect(f *testing.F) {
	for _, q := range goldenQueries(f) {
		f.Add(q)
		f.Add(lowerEscape.ReplaceAllStringFunc(q, strings.ToLower))
		f.Add(strings.Replace(q, "SAMLRequest=", "SAMLResponse=", 1))
		f.Add(q + "&SigAlg=x")
		f.Add(strings.Split(q, "&SigAlg=")[0])
	}
	f.Add("SAMLRequest=&SigAlg=&Signature=")
	f.Add("%zz")
	cert := credential(f, "rsa2048").Leaf()
	f.Fuzz(func(t *testing.T, query string) {
		var me *MessageError
		parsed, perr := ParseRedirect(query)
		if perr != nil && !errors.As(perr, &me) {
			t.Fatalf("ParseRedirect error %T: %v", perr, perr)
		}
		m, err := VerifyRedirect(query, []*x509.Certificate{cert}, true)
		if err != nil {
			if !errors.As(err, &me) {
				t.Fatalf("VerifyRedirect error %T: %v", err, err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("VerifyRedirect accepts what ParseRedirect refuses: %v", perr)
		}
		if m.Signer != cert || !m.Signed || m.Kind != parsed.Kind || m.ID != parsed.ID || m.RelayState != parsed.RelayState || string(m.XML) != string(parsed.XML) {
			t.Fatalf("VerifyRedirect %+v disagrees with ParseRedirect %+v", m, parsed)
		}
	})
}

// FuzzVerifyPOST feeds arbitrary documents, seeded from the golden POST
// messages, to VerifyPOST and ParsePOST: each must refuse with a
// *MessageError, and what verifies is the posted message without its
// signature.
func FuzzVerifyPOST(f *testing.F) {
	for _, name := range []string{"authn-post", "logout-post"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".xml"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
		f.Add([]byte(strings.Replace(string(raw), "<saml:Issuer>", "<samlp:Extensions>"+string(raw)+"</samlp:Extensions><saml:Issuer>", 1)))
	}
	f.Add([]byte(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0"/>`))
	f.Add([]byte(`<!DOCTYPE x><x/>`))
	cert := credential(f, "rsa2048").Leaf()
	f.Fuzz(func(t *testing.T, doc []byte) {
		form := url.Values{"SAMLRequest": {b64(doc)}}
		var me *MessageError
		parsed, perr := ParsePOST(form)
		if perr != nil && !errors.As(perr, &me) {
			t.Fatalf("ParsePOST error %T: %v", perr, perr)
		}
		m, err := VerifyPOST(form, []*x509.Certificate{cert}, true, verifyNow)
		if err != nil {
			if !errors.As(err, &me) {
				t.Fatalf("VerifyPOST error %T: %v", err, err)
			}
			return
		}
		if perr != nil || !parsed.Signed {
			t.Fatalf("VerifyPOST accepts what ParsePOST refuses or finds unsigned: %v", perr)
		}
		if m.Signer != cert || m.Kind != parsed.Kind || m.ID != parsed.ID || strings.Contains(string(m.XML), "SignatureValue") {
			t.Fatalf("VerifyPOST %+v disagrees with ParsePOST %+v", m, parsed)
		}
	})
}
