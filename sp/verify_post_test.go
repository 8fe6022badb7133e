package sp

import (
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// postForm is the form a POST message submits.
func postForm(m *Message) url.Values {
	f := url.Values{}
	for k, v := range m.Fields {
		f.Set(k, v)
	}
	return f
}

// editPOST decodes the form's SAMLRequest, lets edit change the document
// and encodes it again.
func editPOST(t testing.TB, form url.Values, edit func(root *etree.Element)) url.Values {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(form.Get("SAMLRequest"))
	if err != nil {
		t.Fatal(err)
	}
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	out.Set("SAMLRequest", b64(editXML(t, raw, edit)))
	return out
}

func TestVerifyPOSTAccepts(t *testing.T) {
	for _, key := range []string{"rsa2048", "ecp256", "ecp384"} {
		t.Run(key, func(t *testing.T) {
			s := testSettings(t, key)
			cert := s.Signing.Leaf()
			m, err := mustNew(t, s).LogoutRequest(LogoutOptions{IdP: "corp", Binding: BindingPOST, NameID: "u@example.com", RelayState: "r&s"})
			if err != nil {
				t.Fatal(err)
			}
			other := respCertOnly(t, "other-idp")
			got, err := VerifyPOST(postForm(m), []*x509.Certificate{other, cert}, false, verifyNow)
			if err != nil {
				t.Fatalf("VerifyPOST: %v", err)
			}
			if got.Signer != cert || got.Kind != "LogoutRequest" || got.Param != ParamSAMLRequest || got.RelayState != "r&s" ||
				!got.Signed || got.Binding != BindingPOST || got.Algorithm.URI != DefaultAlgorithm(cert.PublicKey).URI {
				t.Fatalf("message %+v", got)
			}
			// XML is the signed element only: the enveloped Signature is gone.
			if strings.Contains(string(got.XML), "Signature") || !strings.Contains(string(got.XML), "u@example.com") {
				t.Fatalf("XML is not the signed element:\n%s", got.XML)
			}
		})
	}
}

func TestVerifyPOSTRefuses(t *testing.T) {
	s := testSettings(t, "rsa2048")
	cert := s.Signing.Leaf()
	m, err := mustNew(t, s).AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: "r"})
	if err != nil {
		t.Fatal(err)
	}
	form := postForm(m)
	sigOf := func(root *etree.Element) *etree.Element { return childNS(root, nsDSig, "Signature") }
	tests := []struct {
		name  string
		form  url.Values
		certs []*x509.Certificate
		now   time.Time
		check string // "" = accepted
	}{
		{"as signed", form, nil, time.Time{}, ""},
		{"RelayState changed (not signed in POST)", func() url.Values { f := editPOST(t, form, func(*etree.Element) {}); f.Set("RelayState", "x"); return f }(), nil, time.Time{}, ""},
		{"KeyInfo naming another certificate is ignored", editPOST(t, form, func(r *etree.Element) {
			_, other := respKey(t, "other-idp")
			sigOf(r).FindElement(".//X509Certificate").SetText(base64.StdEncoding.EncodeToString(other.Raw))
		}), nil, time.Time{}, ""},
		{"Destination changed", editPOST(t, form, func(r *etree.Element) { r.CreateAttr("Destination", "https://evil.example.com/sso") }), nil, time.Time{}, CheckSignature},
		{"SignatureMethod changed", editPOST(t, form, func(r *etree.Element) {
			sigOf(r).FindElement(".//SignatureMethod").CreateAttr("Algorithm", RSASHA512)
		}), nil, time.Time{}, CheckSignature},
		{"SignatureMethod rsa-sha1 not allowed", editPOST(t, form, func(r *etree.Element) {
			sigOf(r).FindElement(".//SignatureMethod").CreateAttr("Algorithm", RSASHA1)
		}), nil, time.Time{}, CheckSignature},
		{"digest sha1 not allowed", editPOST(t, form, func(r *etree.Element) {
			sigOf(r).FindElement(".//DigestMethod").CreateAttr("Algorithm", DigestSHA1)
		}), nil, time.Time{}, CheckSignature},
		{"unknown digest", editPOST(t, form, func(r *etree.Element) {
			sigOf(r).FindElement(".//DigestMethod").CreateAttr("Algorithm", "urn:x")
		}), nil, time.Time{}, CheckSignature},
		{"Reference to the document", editPOST(t, form, func(r *etree.Element) {
			sigOf(r).FindElement(".//Reference").CreateAttr("URI", "")
		}), nil, time.Time{}, CheckSignature},
		{"ID changed", editPOST(t, form, func(r *etree.Element) { r.CreateAttr("ID", "_other") }), nil, time.Time{}, CheckSignature},
		{"second Signature", editPOST(t, form, func(r *etree.Element) {
			ext := r.CreateElement("samlp:Extensions")
			ext.AddChild(sigOf(r).Copy())
		}), nil, time.Time{}, CheckSignature},
		{"Signature moved into a child", editPOST(t, form, func(r *etree.Element) {
			sig := sigOf(r)
			r.RemoveChild(sig)
			r.SelectElement("saml:Issuer").AddChild(sig)
		}), nil, time.Time{}, CheckSignature},
		{"Signature from another message", editPOST(t, form, func(r *etree.Element) {
			other, err := mustNew(t, s).AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST})
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(other.Fields["SAMLRequest"])
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			r.RemoveChild(sigOf(r))
			r.InsertChildAt(1, sigOf(doc.Root()))
		}), nil, time.Time{}, CheckSignature},
		{"unsigned", editPOST(t, form, func(r *etree.Element) { r.RemoveChild(sigOf(r)) }), nil, time.Time{}, CheckSignature},
		{"wrong certificate", form, []*x509.Certificate{respCertOnly(t, "other-idp"), credential(t, "ecp256").Leaf()}, time.Time{}, CheckSignature},
		{"no certificate", form, []*x509.Certificate{}, time.Time{}, CheckSignature},
		{"certificate expired", form, nil, cert.NotAfter.Add(time.Hour), CheckSignature},
		{"SAMLRequest twice", url.Values{"SAMLRequest": {form.Get("SAMLRequest"), form.Get("SAMLRequest")}}, nil, time.Time{}, CheckMalformed},
		{"RelayState twice", url.Values{"SAMLRequest": {form.Get("SAMLRequest")}, "RelayState": {"a", "b"}}, nil, time.Time{}, CheckMalformed},
		{"SAMLRequest and SAMLResponse", url.Values{"SAMLRequest": {form.Get("SAMLRequest")}, "SAMLResponse": {"x"}}, nil, time.Time{}, CheckMalformed},
		{"a request as SAMLResponse", url.Values{"SAMLResponse": {form.Get("SAMLRequest")}}, nil, time.Time{}, CheckMalformed},
		{"empty form", url.Values{}, nil, time.Time{}, CheckMalformed},
		{"not base64", url.Values{"SAMLRequest": {"!!"}}, nil, time.Time{}, CheckMalformed},
		{"over the cap", url.Values{"SAMLRequest": {strings.Repeat("A", MaxResponseBase64+4)}}, nil, time.Time{}, CheckMalformed},
		{"DOCTYPE", url.Values{"SAMLRequest": {b64([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))}}, nil, time.Time{}, CheckMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, now := tt.certs, tt.now
			if certs == nil {
				certs = []*x509.Certificate{cert}
			}
			if now.IsZero() {
				now = verifyNow
			}
			got, err := VerifyPOST(tt.form, certs, false, now)
			if tt.check == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if got.Kind != "AuthnRequest" || got.Signer != cert || got.RelayState != tt.form.Get("RelayState") {
					t.Fatalf("message %+v", got)
				}
				return
			}
			wantMessageCheck(t, err, tt.check)
		})
	}
}

func TestVerifyPOSTSHA1(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SignatureAlgorithm = "rsa-sha1"
	s.IdPs[0].DigestAlgorithm = "sha1"
	svc := newOrRefused(t, s)
	if svc == nil {
		return // rsa-sha1 in FIPS 140-3 mode: refused (TestFIPSVerifyRefuses checks the verifier)
	}
	m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST})
	if err != nil {
		t.Fatal(err)
	}
	certs := []*x509.Certificate{s.Signing.Leaf()}
	_, err = VerifyPOST(postForm(m), certs, false, verifyNow)
	wantMessageCheck(t, err, CheckSignature)
	if got, err := VerifyPOST(postForm(m), certs, true, verifyNow); err != nil || got.Algorithm.URI != RSASHA1 {
		t.Fatalf("rsa-sha1 allowed: %v", err)
	}
}

func TestParsePOST(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SignAuthnRequest = false
	m, err := mustNew(t, s).AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: "r"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePOST(postForm(m))
	if err != nil || got.Signed || got.Signer != nil || got.Kind != "AuthnRequest" || got.RelayState != "r" {
		t.Fatalf("ParsePOST: %+v, %v", got, err)
	}
	_, err = VerifyPOST(postForm(m), []*x509.Certificate{s.Signing.Leaf()}, false, verifyNow)
	wantMessageCheck(t, err, CheckSignature)
}

// TestVerifyPOSTGolden verifies the golden POST messages (made by
// TestGolden with the RSA fixture key).
func TestVerifyPOSTGolden(t *testing.T) {
	cert := credential(t, "rsa2048").Leaf()
	for _, name := range []string{"authn-post", "logout-post"} {
		raw, err := os.ReadFile(filepath.Join("testdata", "golden", name+".xml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyPOST(url.Values{"SAMLRequest": {b64(raw)}}, []*x509.Certificate{cert}, false, verifyNow); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// verifyNow is inside the validity of every fixture certificate (fixedNow,
// the signing clock, is a few hours before some of them begin).
var verifyNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
