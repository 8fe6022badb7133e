package sp

import (
	"compress/flate"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

const (
	respEntityID  = "https://sp.example.com/saml/metadata"
	respACS       = "https://sp.example.com/saml/acs"
	respIdPEntity = "https://idp.example.com/metadata"
	respRequestID = "id-0123456789abcdef0123456789abcdef"
	// Attribute names crewjam/saml's IdP uses (OIDs).
	respMail        = "urn:oid:0.9.2342.19200300.100.1.3"
	respAffiliation = "urn:oid:1.3.6.1.4.1.5923.1.1.1.1"
)

// respNow is the fixed clock of the response tests: responses are made at
// respNow and verified at respNow unless a test moves the validator's clock.
var respNow = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

func respTestdata(name string) string { return filepath.Join("testdata", "response", name) }

// respKey loads testdata/response/NAME.{crt,key}.
func respKey(t testing.TB, name string) (crypto.Signer, *x509.Certificate) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(respTestdata(name+".crt"), respTestdata(name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return pair.PrivateKey.(crypto.Signer), cert
}

func respCred(t testing.TB, name string, role keys.Role) *keys.Credential {
	t.Helper()
	k, c := respKey(t, name)
	return &keys.Credential{RecordID: name, RecordName: name, Use: keys.UseEncryption, Role: role, Signer: k, Chain: []*x509.Certificate{c}}
}

// respSettings: our SP with the current encryption key only, one IdP
// "corp" with Encrypt Assertion on and signed assertions required.
func respSettings(t testing.TB) ResponseSettings {
	t.Helper()
	_, idpCert := respKey(t, "idp")
	return ResponseSettings{
		EntityID:   respEntityID,
		ACSURLs:    []string{respACS},
		Decryption: []*keys.Credential{respCred(t, "enc-current", keys.RoleCurrent)},
		IdPs: []ResponseIdP{{Name: "corp", EntityID: respIdPEntity, SigningCerts: []*x509.Certificate{idpCert},
			EncryptAssertion: true, WantAssertionSigned: true}},
		Now: func() time.Time { return respNow },
	}
}

func respValidator(t testing.TB, s ResponseSettings) *ResponseValidator {
	t.Helper()
	v, err := NewResponseValidator(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func respURL(t testing.TB, raw string) url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return *u
}

// crewjamOpts shape a response made by crewjam/saml's IdentityProvider.
type crewjamOpts struct {
	idpKey    string                // signing key name; "" = "idp"
	encryptTo *x509.Certificate     // our encryption certificate in the SP metadata; nil = plain assertion
	mutate    func(*saml.Assertion) // changes the assertion before the IdP signs it
	sigMethod string                // XML-DSig signature method; "" = rsa-sha256
	attrs     int                   // extra attributes attr0..attrN-1
}

// crewjamResponse has crewjam/saml's IdentityProvider (an independent
// implementation) answer respRequestID for our SP at respNow, and returns
// the Response XML: Assertion signed, then (when encryptTo is set)
// encrypted with rsa-oaep-mgf1p and aes128-cbc, then the Response signed.
func crewjamResponse(t testing.TB, o crewjamOpts) []byte {
	t.Helper()
	name := o.idpKey
	if name == "" {
		name = "idp"
	}
	key, cert := respKey(t, name)
	idp := &saml.IdentityProvider{Signer: key, Certificate: cert,
		MetadataURL: respURL(t, respIdPEntity), SSOURL: respURL(t, "https://idp.example.com/sso"),
		SignatureMethod: o.sigMethod}
	if idp.SignatureMethod == "" {
		idp.SignatureMethod = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	}
	md := &saml.EntityDescriptor{EntityID: respEntityID, SPSSODescriptors: []saml.SPSSODescriptor{{
		AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: respACS, Index: 0}},
	}}}
	if o.encryptTo != nil {
		md.SPSSODescriptors[0].KeyDescriptors = []saml.KeyDescriptor{{Use: "encryption", KeyInfo: saml.KeyInfo{
			X509Data: saml.X509Data{X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(o.encryptTo.Raw)}}}}}}
	}
	req := &saml.IdpAuthnRequest{
		IDP: idp, HTTPRequest: httptest.NewRequest("POST", "https://idp.example.com/sso", nil),
		Request:                 saml.AuthnRequest{ID: respRequestID, IssueInstant: respNow},
		ServiceProviderMetadata: md, SPSSODescriptor: &md.SPSSODescriptors[0],
		ACSEndpoint: &md.SPSSODescriptors[0].AssertionConsumerServices[0], Now: respNow,
	}
	sess := &saml.Session{NameID: "alice@example.com", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Index: "session-1", UserEmail: "alice@example.com", Groups: []string{"admins", "staff"}, CreateTime: respNow}
	for i := range o.attrs {
		sess.CustomAttributes = append(sess.CustomAttributes, saml.Attribute{Name: fmt.Sprintf("attr%d", i),
			Values: []saml.AttributeValue{{Type: "xs:string", Value: fmt.Sprintf("value %d", i)}}})
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, sess); err != nil {
		t.Fatal(err)
	}
	if o.mutate != nil {
		o.mutate(req.Assertion)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// editXML parses doc, lets edit change it, and serializes it again.
func editXML(t testing.TB, doc []byte, edit func(root *etree.Element)) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	edit(d.Root())
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dropResponseSignature(root *etree.Element) {
	root.RemoveChild(childNS(root, nsDSig, "Signature"))
}

// wantCheck asserts err is a *ResponseError for check.
func wantCheck(t *testing.T, err error, check string) {
	t.Helper()
	var re *ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want a *ResponseError %q", err, err, check)
	}
	if re.Check != check {
		t.Fatalf("check %q (%v), want %q", re.Check, err, check)
	}
}

func TestResponseCrewjamIdP(t *testing.T) {
	s := respSettings(t)
	_, encCert := respKey(t, "enc-current")
	a, err := respValidator(t, s).Verify(context.Background(), "corp", b64(crewjamResponse(t, crewjamOpts{encryptTo: encCert})), respRequestID)
	if err != nil {
		t.Fatal(err)
	}
	want := &Assertion{NameID: "alice@example.com", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		SessionIndex: "session-1", Issuer: respIdPEntity, NotOnOrAfter: respNow.Add(saml.MaxIssueDelay)}
	if a.NameID != want.NameID || a.NameIDFormat != want.NameIDFormat || a.SessionIndex != want.SessionIndex ||
		a.Issuer != want.Issuer || !a.NotOnOrAfter.Equal(want.NotOnOrAfter) {
		t.Errorf("assertion %+v, want %+v", a, want)
	}
	if got := a.Attributes[respAffiliation]; !slices.Equal(got, []string{"admins", "staff"}) {
		t.Errorf("eduPersonAffiliation %q, want admins, staff (all attributes %v)", got, a.Attributes)
	}
	if got := a.Attributes[respMail]; !slices.Equal(got, []string{"alice@example.com"}) {
		t.Errorf("mail %q (all attributes %v)", got, a.Attributes)
	}
}

func TestResponseChecks(t *testing.T) {
	_, encCur := respKey(t, "enc-current")
	plain := func(mutate func(*saml.Assertion)) []byte {
		return crewjamResponse(t, crewjamOpts{mutate: mutate})
	}
	enc := func(mutate func(*saml.Assertion)) []byte {
		return crewjamResponse(t, crewjamOpts{encryptTo: encCur, mutate: mutate})
	}
	noEncrypt := func(s *ResponseSettings) { s.IdPs[0].EncryptAssertion = false }
	for _, tt := range []struct {
		name      string
		doc       []byte
		settings  func(*ResponseSettings)
		requestID string
		want      string // check; "" = accepted
		fipsWant  string // check in FIPS 140-3 mode, a keys/fips refusal; "" = want
	}{
		{name: "plain assertion accepted when Encrypt Assertion is off", doc: plain(nil), settings: noEncrypt},
		{name: "plain assertion refused when Encrypt Assertion is on", doc: plain(nil), want: CheckUnencrypted},
		{name: "other audience", doc: enc(func(a *saml.Assertion) {
			a.Conditions.AudienceRestrictions[0].Audience.Value = "https://other-sp.example.com"
		}), want: CheckAudience},
		{name: "no audience restriction", doc: enc(func(a *saml.Assertion) { a.Conditions.AudienceRestrictions = nil }), want: CheckAudience},
		{name: "expired", doc: enc(nil), settings: func(s *ResponseSettings) {
			s.Now = func() time.Time { return respNow.Add(saml.MaxIssueDelay + DefaultClockSkew) }
		}, want: CheckExpired},
		{name: "inside the clock skew", doc: enc(nil), settings: func(s *ResponseSettings) {
			s.Now = func() time.Time { return respNow.Add(saml.MaxIssueDelay + DefaultClockSkew - time.Second) }
		}},
		{name: "not yet valid", doc: enc(func(a *saml.Assertion) { a.Conditions.NotBefore = respNow.Add(time.Hour) }), want: CheckNotYetValid},
		{name: "wrong request id", doc: enc(nil), requestID: "id-other", want: CheckInResponseTo},
		{name: "no request id passed (unsolicited allowed)", doc: enc(nil), requestID: "-"},
		{name: "other recipient", doc: enc(func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = "https://evil.example.com/acs"
		}), want: CheckDestination},
		{name: "other destination", doc: enc(nil), settings: func(s *ResponseSettings) { s.ACSURLs = []string{"https://sp.example.com/other-acs"} }, want: CheckDestination},
		{name: "other issuer", doc: enc(func(a *saml.Assertion) { a.Issuer.Value = "https://evil.example.com" }), want: CheckIssuer},
		{name: "rsa-sha1 signatures refused", doc: crewjamResponse(t, crewjamOpts{encryptTo: encCur, sigMethod: RSASHA1}), want: CheckSignature},
		{name: "rsa-sha1 signatures accepted with allow_sha1", doc: crewjamResponse(t, crewjamOpts{encryptTo: encCur, sigMethod: RSASHA1}),
			settings: func(s *ResponseSettings) { s.IdPs[0].AllowSHA1 = true }, fipsWant: CheckSignature},
		{name: "signed by a key the IdP record does not trust", doc: crewjamResponse(t, crewjamOpts{idpKey: "other-idp", encryptTo: encCur}), want: CheckSignature},
		{name: "response signature required", doc: editXML(t, enc(nil), dropResponseSignature),
			settings: func(s *ResponseSettings) { s.IdPs[0].WantResponseSigned = true }, want: CheckSignature},
		{name: "tampered attribute", settings: noEncrypt, want: CheckSignature,
			doc: editXML(t, plain(nil), func(root *etree.Element) {
				dropResponseSignature(root)
				for _, v := range root.FindElements("//AttributeValue") {
					if v.Text() == "staff" {
						v.SetText("root")
					}
				}
			})},
		{name: "tampered attribute under a signed response", settings: noEncrypt, want: CheckSignature,
			doc: editXML(t, plain(nil), func(root *etree.Element) {
				root.FindElement("//AttributeValue").SetText("root")
			})},
		{name: "second unsigned assertion, response signed", settings: noEncrypt, want: CheckSignature,
			doc: editXML(t, plain(nil), func(root *etree.Element) {
				extra := childNS(root, nsSAML, "Assertion").Copy()
				extra.RemoveChild(childNS(extra, nsDSig, "Signature"))
				extra.CreateAttr("ID", "id-evil")
				root.AddChild(extra)
			})},
		{name: "second unsigned assertion, response unsigned", settings: noEncrypt, want: CheckMultipleAssertions,
			doc: editXML(t, plain(nil), func(root *etree.Element) {
				dropResponseSignature(root)
				extra := childNS(root, nsSAML, "Assertion").Copy()
				extra.RemoveChild(childNS(extra, nsDSig, "Signature"))
				extra.CreateAttr("ID", "id-evil")
				root.InsertChildAt(childNS(root, nsSAML, "Assertion").Index(), extra)
			})},
		{name: "unsigned assertion in an unsigned response", settings: func(s *ResponseSettings) {
			s.IdPs[0].EncryptAssertion, s.IdPs[0].WantAssertionSigned = false, false
		}, want: CheckSignature, doc: editXML(t, plain(nil), func(root *etree.Element) {
			dropResponseSignature(root)
			as := childNS(root, nsSAML, "Assertion")
			as.RemoveChild(childNS(as, nsDSig, "Signature"))
		})},
		{name: "failed status", want: CheckStatus, doc: editXML(t, enc(nil), func(root *etree.Element) {
			dropResponseSignature(root)
			root.FindElement("//StatusCode").CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Requester")
		})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := respSettings(t)
			if tt.settings != nil {
				tt.settings(&s)
			}
			rid := respRequestID
			if tt.requestID == "-" {
				rid = ""
			} else if tt.requestID != "" {
				rid = tt.requestID
			}
			a, err := respValidator(t, s).Verify(context.Background(), "corp", b64(tt.doc), rid)
			if fips.Enabled() && tt.fipsWant != "" {
				wantFIPSRefusal(t, err)
				wantCheck(t, err, tt.fipsWant)
				return
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if a.NameID != "alice@example.com" {
					t.Errorf("name id %q", a.NameID)
				}
				return
			}
			wantCheck(t, err, tt.want)
		})
	}
}

func TestResponseReplay(t *testing.T) {
	_, encCur := respKey(t, "enc-current")
	now := respNow
	s := respSettings(t)
	s.Now = func() time.Time { return now }
	v := respValidator(t, s)
	resp := b64(crewjamResponse(t, crewjamOpts{encryptTo: encCur}))
	if _, err := v.Verify(context.Background(), "corp", resp, respRequestID); err != nil {
		t.Fatal(err)
	}
	now = respNow.Add(time.Minute)
	_, err := v.Verify(context.Background(), "corp", resp, respRequestID)
	wantCheck(t, err, CheckReplay)
	// Once the assertion has expired, it is refused as expired, and its
	// id has left the cache when the cache needs room.
	now = respNow.Add(time.Hour)
	_, err = v.Verify(context.Background(), "corp", resp, respRequestID)
	wantCheck(t, err, CheckExpired)
}

func TestMemoryReplayCache(t *testing.T) {
	c := NewMemoryReplayCache(2)
	ctx := context.Background()
	rec := func(key string, exp, now time.Time) (bool, error) { return c.Record(ctx, key, exp, now) }
	t0 := respNow
	for _, tt := range []struct {
		name     string
		key      string
		exp, now time.Time
		seen     bool
		err      error
	}{
		{"first a", "a", t0.Add(time.Minute), t0, false, nil},
		{"a again", "a", t0.Add(time.Minute), t0.Add(time.Second), true, nil},
		{"b", "b", t0.Add(time.Hour), t0, false, nil},
		{"full of unexpired ids", "c", t0.Add(time.Hour), t0.Add(time.Second), false, ErrResponseReplayCacheFull},
		{"a expired makes room", "c", t0.Add(time.Hour), t0.Add(2 * time.Minute), false, nil},
		{"a again after expiry, cache full of unexpired ids", "a", t0.Add(3 * time.Minute), t0.Add(2 * time.Minute), false, ErrResponseReplayCacheFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen, err := rec(tt.key, tt.exp, tt.now)
			if seen != tt.seen || !errors.Is(err, tt.err) {
				t.Fatalf("seen %v err %v, want %v %v", seen, err, tt.seen, tt.err)
			}
		})
	}
	if c.Len() != 2 {
		t.Errorf("len %d, want 2", c.Len())
	}
}

// TestResponseXSW runs crewjam/saml's signature-wrapping responses (signed
// by OneLogin, wrapped by an attacker) at the time they were made.
func TestResponseXSW(t *testing.T) {
	mdXML, err := os.ReadFile(respTestdata("crewjam/TestSPCanHandleOneloginResponse_IDPMetadata"))
	if err != nil {
		t.Fatal(err)
	}
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(mdXML, &md); err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for _, kd := range md.IDPSSODescriptors[0].KeyDescriptors {
		for _, c := range kd.KeyInfo.X509Data.X509Certificates {
			der, err := base64.StdEncoding.DecodeString(stripSpace(c.Data))
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			certs = append(certs, cert)
		}
	}
	s := ResponseSettings{
		EntityID: "https://29ee6d2e.ngrok.io/saml/metadata", ACSURLs: []string{"https://29ee6d2e.ngrok.io/saml/acs"},
		IdPs: []ResponseIdP{{Name: "onelogin", EntityID: md.EntityID, SigningCerts: certs}},
		Now:  func() time.Time { return time.Date(2016, 1, 5, 17, 53, 12, 0, time.UTC) },
	}
	files, err := filepath.Glob(respTestdata("crewjam/TestXswPermutation*"))
	if err != nil || len(files) != 9 {
		t.Fatalf("%d XSW fixtures (%v), want 9: run testdata/response/gen.sh", len(files), err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "TestXswPermutation"), "IsRejected_response"), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			// Trust the Issuer the file names, so that only the wrapping
			// itself can be refused.
			xmlBody, err := base64.StdEncoding.DecodeString(stripSpace(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			s := s
			s.IdPs = []ResponseIdP{s.IdPs[0]}
			if iss := etree.NewDocument(); iss.ReadFromBytes(xmlBody) == nil {
				if el := iss.FindElement("//Issuer"); el != nil {
					s.IdPs[0].EntityID = el.Text()
				}
				if d := iss.Root().SelectAttrValue("Destination", ""); d != "" {
					s.ACSURLs = []string{d}
				}
				if el := iss.FindElement("//Audience"); el != nil {
					s.EntityID = el.Text()
				}
			}
			_, err = respValidator(t, s).Verify(context.Background(), "onelogin", string(body), "")
			var re *ResponseError
			if !errors.As(err, &re) {
				t.Fatalf("accepted or odd error: %v", err)
			}
			t.Logf("refused: %v", err)
			if re.Check != CheckSignature && re.Check != CheckMultipleAssertions && re.Check != CheckMalformed {
				t.Errorf("refused for %q (%v), want signature, multiple_assertions or malformed", re.Check, err)
			}
		})
	}
}

func TestResponseHostile(t *testing.T) {
	v := respValidator(t, respSettings(t))
	bomb := `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>` +
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0">&c;</samlp:Response>`
	for _, tt := range []struct {
		name, body string
		check      string
	}{
		{"entity expansion", b64([]byte(bomb)), CheckMalformed},
		{"external entity", b64([]byte(`<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`)), CheckMalformed},
		{"huge base64", strings.Repeat("A", MaxResponseBase64+4), CheckMalformed},
		{"decodes over the cap", b64(make([]byte, MaxResponseXML+1)), CheckMalformed},
		{"deflate bomb", b64(deflateZeros(t, 64<<20)), CheckMalformed},
		{"not base64", "<samlp:Response/>", CheckMalformed},
		{"empty", "", CheckMalformed},
		{"not a response", b64([]byte(`<a/>`)), CheckMalformed},
		{"round-trip unstable", b64([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0"><x::y/></samlp:Response>`)), CheckMalformed},
		{"truncated", b64(crewjamResponse(t, crewjamOpts{})[:500]), CheckMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), "corp", tt.body, "")
			wantCheck(t, err, tt.check)
		})
	}
	_, err := v.Verify(context.Background(), "nope", "", "")
	wantCheck(t, err, CheckUnknownIdP)
}

func deflateZeros(t testing.TB, n int) []byte {
	t.Helper()
	var buf strings.Builder
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := 0; i < n; i += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

func TestNewResponseValidatorErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(*ResponseSettings)
		want string
	}{
		{"no entity id", func(s *ResponseSettings) { s.EntityID = "" }, "entity id is empty"},
		{"no acs", func(s *ResponseSettings) { s.ACSURLs = nil }, "no ACS URL"},
		{"negative skew", func(s *ResponseSettings) { s.ClockSkew = -time.Second }, "negative"},
		{"idp without certs", func(s *ResponseSettings) { s.IdPs[0].SigningCerts = nil }, `idp "corp": no signing certificate`},
		{"encrypt assertion without keys", func(s *ResponseSettings) { s.Decryption = nil }, "no encryption key"},
		{"duplicate idp", func(s *ResponseSettings) { s.IdPs = append(s.IdPs, s.IdPs[0]) }, "listed twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := respSettings(t)
			tt.edit(&s)
			_, err := NewResponseValidator(s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// xmlsecOpts describe an EncryptedAssertion that xmlsec1 makes from a
// template.
type xmlsecOpts struct {
	keyTransport, digest, mgf, content string
	sessionKey                         string // xmlsec1 --session-key: aes-128, aes-256, des-192
	to                                 string // testdata key name to encrypt to
	noCert                             bool   // leave the recipient certificate out of EncryptedKey
}

// xmlsecResponse takes crewjam's IdP response with a signed plain
// assertion, has xmlsec1 encrypt the assertion with a template, and wraps
// the EncryptedData in EncryptedAssertion in the (now unsigned) Response.
func xmlsecResponse(t testing.TB, xmlsec string, o xmlsecOpts, attrs int) []byte {
	t.Helper()
	doc := crewjamResponse(t, crewjamOpts{attrs: attrs})
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	root := d.Root()
	dropResponseSignature(root)
	as := childNS(root, nsSAML, "Assertion")
	asDoc := etree.NewDocument()
	asDoc.SetRoot(as.Copy())
	asXML, err := asDoc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	method := ""
	if o.digest != "" {
		method += `<ds:DigestMethod Algorithm="` + o.digest + `"/>`
	}
	if o.mgf != "" {
		method += `<xenc11:MGF xmlns:xenc11="http://www.w3.org/2009/xmlenc11#" Algorithm="` + o.mgf + `"/>`
	}
	keyInfo := `<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>`
	if o.noCert {
		keyInfo = ""
	}
	tmpl := `<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Type="http://www.w3.org/2001/04/xmlenc#Element">` +
		`<xenc:EncryptionMethod Algorithm="` + o.content + `"/><ds:KeyInfo><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="` + o.keyTransport + `">` + method + `</xenc:EncryptionMethod>` + keyInfo +
		`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>` +
		`<xenc:CipherData><xenc:CipherValue/></xenc:CipherData></xenc:EncryptedData>`
	dir := t.TempDir()
	for name, b := range map[string][]byte{"tmpl.xml": []byte(tmpl), "data.xml": asXML} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out.xml")
	cmd := exec.Command(xmlsec, "--encrypt", "--pubkey-cert-pem", respTestdata(o.to+".crt"), "--session-key", o.sessionKey,
		"--xml-data", filepath.Join(dir, "data.xml"), "--node-name", nsSAML+":Assertion", "--output", out, filepath.Join(dir, "tmpl.xml"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --encrypt: %v\n%s", err, b)
	}
	encDoc := etree.NewDocument()
	if err := encDoc.ReadFromFile(out); err != nil {
		t.Fatal(err)
	}
	wrapper := etree.NewElement("saml:EncryptedAssertion")
	wrapper.AddChild(encDoc.Root())
	root.InsertChildAt(as.Index(), wrapper)
	root.RemoveChild(as)
	b, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	respSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	respSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
	respSessAES   = "aes-256"
	respSessAES12 = "aes-128"
)

// TestResponseXmlsec1 decrypts assertions that xmlsec1 encrypted to our
// encryption certificate with every accepted algorithm pair, and checks the
// refused ones.
func TestResponseXmlsec1(t *testing.T) {
	xmlsec := tooltest.Path(t, "xmlsec1")
	oaep := xmlsecOpts{keyTransport: KeyTransportRSAOAEPMGF1P, content: ContentAES256GCM, sessionKey: respSessAES, to: "enc-current"}
	with := func(edit func(*xmlsecOpts)) xmlsecOpts { o := oaep; edit(&o); return o }
	prevNext := []*keys.Credential{
		respCred(t, "enc-current", keys.RoleCurrent), respCred(t, "enc-next", keys.RoleNext), respCred(t, "enc-previous", keys.RolePrevious)}
	for _, tt := range []struct {
		name     string
		o        xmlsecOpts
		settings func(*ResponseSettings)
		want     string
		text     string // in the error, when set
		fipsWant string // check in FIPS 140-3 mode, a keys/fips refusal; "" = want
	}{
		{name: "rsa-oaep-mgf1p sha1 aes256-gcm", o: oaep},
		{name: "rsa-oaep-mgf1p explicit sha1 aes128-cbc", o: with(func(o *xmlsecOpts) { o.digest, o.content, o.sessionKey = respSHA1, ContentAES128CBC, respSessAES12 })},
		{name: "rsa-oaep-mgf1p aes256-cbc", o: with(func(o *xmlsecOpts) { o.content = ContentAES256CBC })},
		{name: "rsa-oaep-mgf1p aes192-cbc", o: with(func(o *xmlsecOpts) { o.content, o.sessionKey = ContentAES192CBC, "aes-192" })},
		{name: "rsa-oaep-mgf1p aes128-gcm", o: with(func(o *xmlsecOpts) { o.content, o.sessionKey = ContentAES128GCM, respSessAES12 })},
		{name: "tripledes-cbc (deprecated, accepted)", o: with(func(o *xmlsecOpts) { o.content, o.sessionKey = ContentTripleDESCBC, "des-192" }),
			fipsWant: CheckDecrypt},
		{name: "rsa-1_5 refused", o: with(func(o *xmlsecOpts) { o.keyTransport = KeyTransportRSA15 }), want: CheckDecrypt,
			text: "set sp.allow_rsa1_5: true", fipsWant: CheckDecrypt}, // the config key that exists (issue 14)
		{name: "rsa-1_5 with AllowRSA15", o: with(func(o *xmlsecOpts) { o.keyTransport = KeyTransportRSA15 }),
			settings: func(s *ResponseSettings) { s.AllowRSA15 = true }, fipsWant: CheckDecrypt},
		{name: "no recipient certificate: each key tried", o: with(func(o *xmlsecOpts) { o.noCert = true }),
			settings: func(s *ResponseSettings) { s.Decryption = prevNext }},
		{name: "rollover: next key, published", o: with(func(o *xmlsecOpts) { o.to = "enc-next" }),
			settings: func(s *ResponseSettings) { s.Decryption = prevNext }},
		{name: "rollover: previous key inside its grace period", o: with(func(o *xmlsecOpts) { o.to = "enc-previous" }),
			settings: func(s *ResponseSettings) { s.Decryption = prevNext }},
		{name: "rollover: previous key after its grace period", o: with(func(o *xmlsecOpts) { o.to = "enc-previous" }),
			settings: func(s *ResponseSettings) { s.Decryption = prevNext[:2] }, want: CheckDecrypt},
		{name: "rollover: previous key without certificate after its grace period", o: with(func(o *xmlsecOpts) { o.to, o.noCert = "enc-previous", true }),
			settings: func(s *ResponseSettings) { s.Decryption = prevNext[:2] }, want: CheckDecrypt},
		{name: "signing key does not decrypt", o: oaep,
			settings: func(s *ResponseSettings) { s.Decryption = []*keys.Credential{respCred(t, "sp-sign", keys.RoleCurrent)} }, want: CheckDecrypt},
		{name: "signing key does not decrypt, no recipient certificate", o: with(func(o *xmlsecOpts) { o.noCert = true }),
			settings: func(s *ResponseSettings) { s.Decryption = []*keys.Credential{respCred(t, "sp-sign", keys.RoleCurrent)} }, want: CheckDecrypt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := respSettings(t)
			if tt.settings != nil {
				tt.settings(&s)
			}
			doc := xmlsecResponse(t, xmlsec, tt.o, 0)
			a, err := respValidator(t, s).Verify(context.Background(), "corp", b64(doc), respRequestID)
			if fips.Enabled() && tt.fipsWant != "" {
				wantFIPSRefusal(t, err)
				wantCheck(t, err, tt.fipsWant)
				return
			}
			if tt.want != "" {
				wantCheck(t, err, tt.want)
				if !strings.Contains(err.Error(), tt.text) {
					t.Errorf("error %q does not say %q", err, tt.text)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v\n%s", err, doc)
			}
			if a.NameID != "alice@example.com" || !slices.Equal(a.Attributes[respMail], []string{"alice@example.com"}) {
				t.Errorf("assertion %+v", a)
			}
		})
	}
}

func TestEncryptionMethodsAreDecryptable(t *testing.T) {
	cc := contentCiphers()
	for _, m := range EncryptionMethods() {
		_, content := cc[m]
		if !content && m != KeyTransportRSAOAEP && m != KeyTransportRSAOAEPMGF1P {
			t.Errorf("EncryptionMethods lists %q, which decrypt does not accept", m)
		}
	}
	if slices.Contains(EncryptionMethods(), KeyTransportRSA15) {
		t.Error("rsa-1_5 must never be published")
	}
	accepted := len(cc) + 2
	if fips.Enabled() {
		if slices.Contains(EncryptionMethods(), ContentTripleDESCBC) {
			t.Error("tripledes-cbc is published in FIPS 140-3 mode")
		}
		accepted-- // tripledes-cbc
	}
	if len(EncryptionMethods()) != accepted {
		t.Errorf("EncryptionMethods has %d entries, decrypt accepts %d", len(EncryptionMethods()), accepted)
	}
}

// TestResponseConcurrent verifies distinct responses from several
// goroutines on one validator (run with -race); each is accepted once and
// replayed once.
func TestResponseConcurrent(t *testing.T) {
	_, encCur := respKey(t, "enc-current")
	v := respValidator(t, respSettings(t))
	const n = 8
	docs := make([]string, n)
	for i := range docs {
		docs[i] = b64(crewjamResponse(t, crewjamOpts{encryptTo: encCur}))
	}
	errs := make(chan error, 2*n)
	for _, d := range docs {
		go func() {
			_, err := v.Verify(context.Background(), "corp", d, respRequestID)
			errs <- err
		}()
		go func() {
			_, err := v.Verify(context.Background(), "corp", d, respRequestID)
			errs <- err
		}()
	}
	var ok, replays int
	for range 2 * n {
		err := <-errs
		var re *ResponseError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.Check == CheckReplay:
			replays++
		default:
			t.Error(err)
		}
	}
	if ok != n || replays != n {
		t.Errorf("%d accepted, %d replays; want %d each", ok, replays, n)
	}
}

// TestResponseDeprecationWarnings checks that the deprecated algorithms
// that are accepted (tripledes-cbc; rsa-1_5 when allowed) log a warning
// each time they are used, and the others log nothing.
func TestResponseDeprecationWarnings(t *testing.T) {
	xmlsec := tooltest.Path(t, "xmlsec1")
	for _, tt := range []struct {
		name string
		o    xmlsecOpts
		want string
	}{
		{"aes256-gcm", xmlsecOpts{keyTransport: KeyTransportRSAOAEPMGF1P, content: ContentAES256GCM, sessionKey: respSessAES}, ""},
		{"tripledes-cbc", xmlsecOpts{keyTransport: KeyTransportRSAOAEPMGF1P, content: ContentTripleDESCBC, sessionKey: "des-192"}, "tripledes-cbc"},
		{"rsa-1_5", xmlsecOpts{keyTransport: KeyTransportRSA15, content: ContentAES256GCM, sessionKey: respSessAES}, "rsa-1_5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			s := respSettings(t)
			s.AllowRSA15 = true
			s.Logger = slog.New(slog.NewTextHandler(&buf, nil))
			tt.o.to = "enc-current"
			_, err := respValidator(t, s).Verify(context.Background(), "corp", b64(xmlsecResponse(t, xmlsec, tt.o, 0)), respRequestID)
			if tt.want != "" && fips.Enabled() {
				wantFIPSRefusal(t, err) // refused, not warned about, in FIPS 140-3 mode
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if tt.want == "" && got != "" || tt.want != "" && (!strings.Contains(got, "level=WARN") || !strings.Contains(got, tt.want)) {
				t.Errorf("log %q, want a warning naming %q", got, tt.want)
			}
		})
	}
}
