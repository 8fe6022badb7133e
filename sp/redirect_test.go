package sp

import (
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/x509"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// authnXML is the part of an AuthnRequest the tests read back.
type authnXML struct {
	XMLName      xml.Name `xml:"urn:oasis:names:tc:SAML:2.0:protocol AuthnRequest"`
	ID           string   `xml:"ID,attr"`
	Version      string   `xml:"Version,attr"`
	IssueInstant string   `xml:"IssueInstant,attr"`
	Destination  string   `xml:"Destination,attr"`
	ACSURL       string   `xml:"AssertionConsumerServiceURL,attr"`
	ACSIndex     string   `xml:"AssertionConsumerServiceIndex,attr"`
	Binding      string   `xml:"ProtocolBinding,attr"`
	ForceAuthn   string   `xml:"ForceAuthn,attr"`
	IsPassive    string   `xml:"IsPassive,attr"`
	Issuer       string   `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
	Policy       struct {
		Format      string `xml:"Format,attr"`
		AllowCreate string `xml:"AllowCreate,attr"`
	} `xml:"NameIDPolicy"`
	Context *struct {
		Comparison string   `xml:"Comparison,attr"`
		Refs       []string `xml:"urn:oasis:names:tc:SAML:2.0:assertion AuthnContextClassRef"`
	} `xml:"RequestedAuthnContext"`
	Signature *struct{} `xml:"http://www.w3.org/2000/09/xmldsig# Signature"`
}

func TestRedirectEveryAlgorithm(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg.Name, func(t *testing.T) {
			s := testSettings(t, keyFor(alg))
			s.IdPs[0].SignatureAlgorithm = alg.URI
			svc := newOrRefused(t, s)
			if svc == nil {
				return // rsa-sha1 in FIPS 140-3 mode: refused
			}
			pub := s.Signing.Signer.Public()
			m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "r1"})
			if err != nil {
				t.Fatal(err)
			}
			_, params, err := verifyRedirect(m.URL, pub)
			if err != nil {
				t.Fatalf("authn: independent verifier: %v\n%s", err, m.URL)
			}
			tampered := strings.Replace(m.URL, "RelayState=r1", "RelayState=r2", 1)
			if _, _, err := verifyRedirect(tampered, pub); err == nil {
				t.Fatal("independent verifier accepts a tampered RelayState")
			}
			if params.Get("SigAlg") != alg.URI {
				t.Errorf("SigAlg = %q", params.Get("SigAlg"))
			}
			l, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "u@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := verifyRedirect(l.URL, pub); err != nil {
				t.Fatalf("logout: independent verifier: %v", err)
			}
		})
	}
}

func TestRedirectAuthnRequestContent(t *testing.T) {
	s := testSettings(t, "rsa2048")
	svc := mustNew(t, s)
	idx, no := 1, false
	tests := []struct {
		name  string
		opts  AuthnOptions
		check func(t *testing.T, a authnXML)
	}{
		{"defaults", AuthnOptions{IdP: "corp"}, func(t *testing.T, a authnXML) {
			if a.ACSURL != "https://sp.example.com/saml/acs" || a.Binding != BindingPOSTURN || a.ACSIndex != "" {
				t.Errorf("ACS = %q %q %q", a.ACSURL, a.Binding, a.ACSIndex)
			}
			if a.ForceAuthn != "" || a.IsPassive != "" || a.Context != nil {
				t.Errorf("optional attributes set: %+v", a)
			}
			if a.Policy.AllowCreate != "true" || a.Policy.Format != "" {
				t.Errorf("NameIDPolicy = %+v", a.Policy)
			}
		}},
		{"options", AuthnOptions{IdP: "corp", ForceAuthn: true, IsPassive: true, ACSIndex: &idx,
			NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", AllowCreate: &no,
			AuthnContext:           []string{"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", "urn:x:mfa"},
			AuthnContextComparison: "minimum"}, func(t *testing.T, a authnXML) {
			if a.ACSIndex != "1" || a.ACSURL != "" || a.Binding != "" {
				t.Errorf("ACS = %q %q %q", a.ACSURL, a.Binding, a.ACSIndex)
			}
			if a.ForceAuthn != "true" || a.IsPassive != "true" {
				t.Errorf("ForceAuthn %q IsPassive %q", a.ForceAuthn, a.IsPassive)
			}
			if a.Policy.AllowCreate != "false" || a.Policy.Format != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
				t.Errorf("NameIDPolicy = %+v", a.Policy)
			}
			if a.Context == nil || a.Context.Comparison != "minimum" || len(a.Context.Refs) != 2 || a.Context.Refs[1] != "urn:x:mfa" {
				t.Errorf("RequestedAuthnContext = %+v", a.Context)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := svc.AuthnRequest(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, params, err := verifyRedirect(m.URL, s.Signing.Signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			var a authnXML
			if err := xml.Unmarshal(inflate(t, params.Get("SAMLRequest")), &a); err != nil {
				t.Fatal(err)
			}
			if a.ID != m.ID || len(a.ID) != 41 || a.ID[0] != '_' || a.Version != "2.0" ||
				a.IssueInstant != "2026-11-22T12:00:00Z" || a.Destination != "https://idp.example.com/sso" ||
				a.Issuer != s.EntityID || a.Signature != nil {
				t.Errorf("header = %+v (message id %q)", a, m.ID)
			}
			tt.check(t, a)
		})
	}
}

func TestRedirectHostileRelayState(t *testing.T) {
	s := testSettings(t, "rsa2048")
	svc := mustNew(t, s)
	for _, rs := range []string{
		"a&SigAlg=http://www.w3.org/2000/09/xmldsig#rsa-sha1",
		"x=1&y=2", "50% off + more", "#fragment", "with spaces  inside ",
		"Grüße, 東京 🙂", `"><script>alert(1)</script>`, "a+b%2Bc%20d", "&&&===",
		strings.Repeat("é", 40), // 80 bytes
	} {
		t.Run(rs, func(t *testing.T) {
			for _, send := range []func() (*Message, error){
				func() (*Message, error) { return svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: rs}) },
				func() (*Message, error) {
					return svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "n", RelayState: rs})
				},
			} {
				m, err := send()
				if err != nil {
					t.Fatal(err)
				}
				signed, params, err := verifyRedirect(m.URL, s.Signing.Signer.Public())
				if err != nil {
					t.Fatalf("verifier: %v\n%s", err, m.URL)
				}
				if got := params.Get("RelayState"); got != rs {
					t.Errorf("RelayState parsed back as %q", got)
				}
				if n := len(params["SigAlg"]); n != 1 {
					t.Errorf("%d SigAlg parameters", n)
				}
				if n := len(params); n != 4 {
					t.Errorf("%d parameters, want 4: %v", n, params)
				}
				if strings.ContainsAny(strings.TrimPrefix(m.URL, "https://idp.example.com/"), "#\" <>") {
					t.Errorf("URL carries unescaped characters: %s", m.URL)
				}
				if !strings.HasSuffix(m.URL, "?"+signed+"&Signature="+url.QueryEscape(params.Get("Signature"))) {
					t.Errorf("URL does not end in the signed octets and Signature")
				}
			}
		})
	}
}

func TestRelayStateLimits(t *testing.T) {
	svc := mustNew(t, testSettings(t, "rsa2048"))
	tests := []struct {
		name string
		rs   string
		ok   bool
	}{
		{"80 bytes", strings.Repeat("a", 80), true},
		{"81 bytes", strings.Repeat("a", 81), false},
		{"41 two-byte runes", strings.Repeat("é", 41), false},
		{"invalid utf-8", "a\xffb", false},
		{"newline", "a\nb", false},
		{"nul", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range []string{BindingRedirect, BindingPOST} {
				_, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: tt.rs, Binding: b})
				if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadRequest)) {
					t.Errorf("%s: err = %v, want ok=%v or ErrBadRequest", b, err, tt.ok)
				}
			}
		})
	}
}

func TestRedirectDestinationQuery(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SSO.Location = "https://idp.example.com/sso?tenant=a%26b&SigAlg=evil"
	svc := mustNew(t, s)
	m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "rs"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.URL, "https://idp.example.com/sso?tenant=a%26b&SigAlg=evil&SAMLRequest=") {
		t.Fatalf("URL = %s", m.URL)
	}
	// The IdP verifies the SAML parameters only; the Destination's own
	// parameters are outside the signed octets.
	u, _ := url.Parse(m.URL)
	raw := u.RawQuery[strings.Index(u.RawQuery, "SAMLRequest="):]
	signed, _, err := verifyRedirect("https://idp.example.com/sso?"+raw, s.Signing.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(signed, "tenant") || strings.Contains(signed, "evil") {
		t.Errorf("signed octets include the Destination's query: %s", signed)
	}
	var a authnXML
	if err := xml.Unmarshal(inflate(t, u.Query().Get("SAMLRequest")), &a); err != nil {
		t.Fatal(err)
	}
	if a.Destination != s.IdPs[0].SSO.Location {
		t.Errorf("Destination = %q", a.Destination)
	}
}

func TestUnsignedWhenSwitchOff(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SignAuthnRequest, s.IdPs[0].SignLogoutRequest = false, false
	svc := mustNew(t, s)
	for _, b := range []string{BindingRedirect, BindingPOST} {
		a, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: b, RelayState: "x"})
		if err != nil {
			t.Fatal(err)
		}
		l, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", Binding: b, NameID: "n"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*Message{a, l} {
			if b == BindingRedirect {
				if strings.Contains(m.URL, "SigAlg=") || strings.Contains(m.URL, "Signature=") {
					t.Errorf("unsigned redirect carries a signature: %s", m.URL)
				}
				continue
			}
			x, _ := base64.StdEncoding.DecodeString(m.Fields["SAMLRequest"])
			if strings.Contains(string(x), "Signature") {
				t.Errorf("unsigned POST carries a Signature: %s", x)
			}
		}
	}
}

func TestRequestErrors(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs = append(s.IdPs, testIdP("noslo"))
	s.IdPs[1].SLO.Location, s.IdPs[1].SLO.Binding = "", ""
	svc := mustNew(t, s)
	nine := 9
	tests := []struct {
		name string
		send func() (*Message, error)
		want error
	}{
		{"unknown idp", func() (*Message, error) { return svc.AuthnRequest(AuthnOptions{IdP: "nope"}) }, ErrUnknownIdP},
		{"unknown idp logout", func() (*Message, error) { return svc.LogoutRequest(LogoutOptions{IdP: "nope", NameID: "n"}) }, ErrUnknownIdP},
		{"bad binding", func() (*Message, error) { return svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: "artifact"}) }, ErrBadBinding},
		{"unknown acs index", func() (*Message, error) { return svc.AuthnRequest(AuthnOptions{IdP: "corp", ACSIndex: &nine}) }, ErrBadRequest},
		{"bad comparison", func() (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", AuthnContext: []string{"x"}, AuthnContextComparison: "most"})
		}, ErrBadRequest},
		{"comparison without context", func() (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", AuthnContextComparison: "exact"})
		}, ErrBadRequest},
		{"control character in format", func() (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", NameIDFormat: "a\x01"})
		}, ErrBadRequest},
		{"huge format", func() (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", NameIDFormat: strings.Repeat("a", 2000)})
		}, ErrBadRequest},
		{"too many contexts", func() (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", AuthnContext: make([]string, 17)})
		}, ErrBadRequest},
		{"logout without name id", func() (*Message, error) { return svc.LogoutRequest(LogoutOptions{IdP: "corp"}) }, ErrBadRequest},
		{"logout without slo", func() (*Message, error) { return svc.LogoutRequest(LogoutOptions{IdP: "noslo", NameID: "n"}) }, ErrBadRequest},
		{"empty session index", func() (*Message, error) {
			return svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "n", SessionIndex: []string{""}})
		}, ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.send()
			if !errors.Is(err, tt.want) || m != nil || !IsBadRequest(err) {
				t.Fatalf("got %v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func TestLogoutRequestContent(t *testing.T) {
	s := testSettings(t, "rsa2048")
	svc := mustNew(t, s)
	noa := time.Date(2026, 11, 22, 12, 5, 0, 0, time.UTC)
	m, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "u<&>@example.com",
		NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", NameQualifier: "https://idp.example.com/metadata",
		SPNameQualifier: s.EntityID, SessionIndex: []string{"s1", "s2"}, Reason: "urn:oasis:names:tc:SAML:2.0:logout:user",
		NotOnOrAfter: &noa})
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := verifyRedirect(m.URL, s.Signing.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		ID, Destination, Reason, NotOnOrAfter string `xml:",attr"`
		Issuer                                string `xml:"urn:oasis:names:tc:SAML:2.0:assertion Issuer"`
		NameID                                struct {
			Value                                  string `xml:",chardata"`
			Format, NameQualifier, SPNameQualifier string `xml:",attr"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:assertion NameID"`
		SessionIndex []string `xml:"urn:oasis:names:tc:SAML:2.0:protocol SessionIndex"`
	}
	x := inflate(t, params.Get("SAMLRequest"))
	if err := xml.Unmarshal(x, &l); err != nil {
		t.Fatal(err)
	}
	if l.ID != m.ID || l.Destination != "https://idp.example.com/slo" || l.Reason != "urn:oasis:names:tc:SAML:2.0:logout:user" ||
		l.NotOnOrAfter != "2026-11-22T12:05:00Z" || l.Issuer != s.EntityID || l.NameID.Value != "u<&>@example.com" ||
		l.NameID.Format != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" ||
		l.NameID.NameQualifier != "https://idp.example.com/metadata" || l.NameID.SPNameQualifier != s.EntityID ||
		len(l.SessionIndex) != 2 || l.SessionIndex[1] != "s2" {
		t.Errorf("LogoutRequest = %+v\n%s", l, x)
	}
}

// TestRedirectOpenSSL checks redirect signatures with openssl dgst -verify
// over the signed octets the IdP rebuilds from the URL.
func TestRedirectOpenSSL(t *testing.T) {
	openssl := tooltest.Path(t, "openssl")
	for _, alg := range []string{RSASHA256, RSASHA512, ECDSASHA256, ECDSASHA384} {
		a, _ := LookupAlgorithm(alg)
		t.Run(a.Name, func(t *testing.T) {
			s := testSettings(t, keyFor(a))
			s.IdPs[0].SignatureAlgorithm = alg
			m, err := mustNew(t, s).AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "a&b=c d+é"})
			if err != nil {
				t.Fatal(err)
			}
			signed, params, err := verifyRedirect(m.URL, s.Signing.Signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			sig, _ := base64.StdEncoding.DecodeString(params.Get("Signature"))
			if a.Key == KeyEC { // openssl wants ASN.1 DER, XML-DSig carries r||s
				n := len(sig) / 2
				sig, _ = asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
			}
			dir := t.TempDir()
			pubDER, _ := x509.MarshalPKIXPublicKey(s.Signing.Signer.Public())
			for name, b := range map[string][]byte{
				"data.bin": []byte(signed), "sig.bin": sig,
				"pub.pem": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
			} {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command(openssl, "dgst", "-sha"+strings.TrimPrefix(a.Hash.String(), "SHA-"),
				"-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig.bin"), filepath.Join(dir, "data.bin")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verified OK") {
				t.Fatalf("openssl dgst -verify: %v\n%s", err, out)
			}
			// The same check fails on one changed octet: the test can fail.
			if err := os.WriteFile(filepath.Join(dir, "data.bin"), []byte(strings.Replace(signed, "RelayState=a", "RelayState=A", 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(openssl, "dgst", "-sha"+strings.TrimPrefix(a.Hash.String(), "SHA-"),
				"-verify", filepath.Join(dir, "pub.pem"), "-signature", filepath.Join(dir, "sig.bin"), filepath.Join(dir, "data.bin")).CombinedOutput(); err == nil {
				t.Fatalf("openssl verified tampered octets:\n%s", out)
			}
		})
	}
}
