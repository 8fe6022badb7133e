package sp

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// The SP's single logout locations in the logout tests.
const (
	logoutSLO     = "https://sp.example.com/saml/slo"
	logoutSLODone = "https://sp.example.com/saml/slo/done"
)

// fakeIdP is a Service that plays the IdP: its entity id is the IdP's, it
// signs with testdata/response/idp.key, and its one peer ("sp") has our
// SLO endpoint, so its LogoutRequests and LogoutResponses are what an IdP
// sends us. entity overrides the Issuer; alg the signature algorithm.
func fakeIdP(t testing.TB, entity, alg string, sign bool) *Service {
	t.Helper()
	key, cert := respKey(t, "idp")
	if entity == "" {
		entity = respIdPEntity
	}
	peer := config.IdP{
		Name: "sp", EntityID: respEntityID, SignatureAlgorithm: alg,
		SSO:               config.Endpoint{Binding: BindingRedirect, Location: "https://sp.example.com/saml/acs"},
		SLO:               config.Endpoint{Binding: BindingRedirect, Location: logoutSLO, ResponseLocation: logoutSLODone},
		SignLogoutRequest: sign, SignAuthnRequest: true,
	}
	return mustNew(t, Settings{
		EntityID: entity, IdPs: []config.IdP{peer}, Now: func() time.Time { return respNow },
		Signing: &keys.Credential{RecordName: "idp", Signer: key, Chain: []*x509.Certificate{cert}},
	})
}

// logoutValidator validates logout messages of "corp" at respNow.
func logoutValidator(t testing.TB, edit func(*ResponseSettings)) *ResponseValidator {
	t.Helper()
	s := respSettings(t)
	s.SLOURLs = []string{logoutSLO, logoutSLODone}
	if edit != nil {
		edit(&s)
	}
	return respValidator(t, s)
}

// logoutInput is what the browser delivers for m.
func logoutInput(t testing.TB, m *Message) LogoutInput {
	if m.Binding == BindingRedirect {
		return LogoutInput{Binding: BindingRedirect, Query: rawQuery(t, m.URL)}
	}
	return LogoutInput{Binding: BindingPOST, Form: postForm(m)}
}

func TestVerifyLogoutAccepts(t *testing.T) {
	idp := fakeIdP(t, "", "", true)
	for _, binding := range []string{BindingRedirect, BindingPOST} {
		t.Run(binding, func(t *testing.T) {
			v := logoutValidator(t, nil)
			req, err := idp.LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u@example.com", NameIDFormat: "urn:f",
				SessionIndex: []string{"s1", "s2"}, RelayState: "a&b é", Binding: binding})
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.VerifyLogout(context.Background(), "corp", logoutInput(t, req), "")
			if err != nil {
				t.Fatalf("VerifyLogout: %v", err)
			}
			want := LogoutMessage{Kind: "LogoutRequest", ID: req.ID, Issuer: respIdPEntity, NameID: "u@example.com", NameIDFormat: "urn:f", RelayState: "a&b é", Signed: true}
			if got.Kind != want.Kind || got.ID != want.ID || got.Issuer != want.Issuer || got.NameID != want.NameID ||
				got.NameIDFormat != want.NameIDFormat || got.RelayState != want.RelayState || !got.Signed || strings.Join(got.SessionIndexes, ",") != "s1,s2" {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			if binding == BindingRedirect { // lower-case percent-escapes, signed as sent (ADFS)
				key, _ := respKey(t, "idp")
				alg, _ := LookupAlgorithm(RSASHA256)
				unsigned, _, _ := strings.Cut(rawQuery(t, req.URL), "&Signature=")
				lower := signOctets(t, key, alg, lowerEscape.ReplaceAllStringFunc(unsigned, strings.ToLower))
				v2 := logoutValidator(t, nil)
				if got, err := v2.VerifyLogout(context.Background(), "corp", LogoutInput{Binding: BindingRedirect, Query: lower}, ""); err != nil || got.RelayState != "a&b é" {
					t.Fatalf("lower-case escapes: %+v %v\n%s", got, err, lower)
				}
			}
			for _, st := range []string{LogoutSuccess, LogoutPartial, LogoutRequester, LogoutResponder} {
				resp, err := idp.LogoutResponse(LogoutResponseOptions{IdP: "sp", InResponseTo: "_our-request", Status: st, Binding: binding})
				if err != nil {
					t.Fatal(err)
				}
				got, err := v.VerifyLogout(context.Background(), "corp", logoutInput(t, resp), "_our-request")
				if err != nil {
					t.Fatalf("VerifyLogout %s: %v", st, err)
				}
				if got.Kind != "LogoutResponse" || got.Status != st || got.InResponseTo != "_our-request" || got.NameID != "" {
					t.Fatalf("response %s: %+v", st, got)
				}
			}
		})
	}
}

// reDeflate re-encodes the redirect message of q after edit changed its
// XML, keeping every other parameter (and the signature) as it was.
func reDeflate(t testing.TB, q string, edit func(string) string) string {
	t.Helper()
	v := mustQuery(t, "?"+q)
	param := ParamSAMLRequest
	if v.Has(ParamSAMLResponse) {
		param = ParamSAMLResponse
	}
	xml := edit(string(inflate(t, v.Get(param))))
	raw := deflate(t, []byte(xml))
	return strings.Replace(q, param+"="+url.QueryEscape(v.Get(param)), param+"="+url.QueryEscape(base64.StdEncoding.EncodeToString(raw)), 1)
}

func TestVerifyLogoutRefuses(t *testing.T) {
	idp := fakeIdP(t, "", "", true)
	sign := func(b string, o LogoutOptions) LogoutInput {
		o.IdP, o.Binding = "sp", b
		if o.NameID == "" {
			o.NameID = "u@example.com"
		}
		m, err := idp.LogoutRequest(o)
		if err != nil {
			t.Fatal(err)
		}
		return logoutInput(t, m)
	}
	red := sign(BindingRedirect, LogoutOptions{RelayState: "r/1"})
	post := sign(BindingPOST, LogoutOptions{})
	other := sign(BindingRedirect, LogoutOptions{NameID: "someone@example.com", RelayState: "r/1"})
	signed, sig, _ := strings.Cut(red.Query, "&Signature=")
	_, otherSig, _ := strings.Cut(other.Query, "&Signature=")
	past := respNow.Add(-time.Minute)
	sha1Req := sha1LogoutRequest(t)
	unsignedIdP := fakeIdP(t, "", "", false)
	unsignedPost, err := unsignedIdP.LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u", Binding: BindingPOST})
	if err != nil {
		t.Fatal(err)
	}
	evilReq, err := fakeIdP(t, "https://evil.example.com/idp", "", true).LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	otherPost := sign(BindingPOST, LogoutOptions{NameID: "someone@example.com"})
	otherXML, _ := base64.StdEncoding.DecodeString(otherPost.Form.Get(ParamSAMLRequest))
	otherDoc := etree.NewDocument()
	if err := otherDoc.ReadFromBytes(otherXML); err != nil {
		t.Fatal(err)
	}
	otherRoot := otherDoc.Root()
	editPost := func(edit func(*etree.Element)) LogoutInput {
		return LogoutInput{Binding: BindingPOST, Form: editPOST(t, post.Form, edit)}
	}
	tests := []struct {
		name      string
		idp       string
		in        LogoutInput
		requestID string
		now       time.Time
		check     string
	}{
		{"unknown idp", "nobody", red, "", respNow, CheckUnknownIdP},
		{"bad binding", "corp", LogoutInput{Binding: "artifact"}, "", respNow, CheckMalformed},
		{"redirect NameID changed", "corp", LogoutInput{Binding: BindingRedirect, Query: reDeflate(t, red.Query, func(x string) string {
			return strings.Replace(x, "u@example.com", "admin@example.com", 1)
		})}, "", respNow, CheckSignature},
		{"redirect Destination changed", "corp", LogoutInput{Binding: BindingRedirect, Query: reDeflate(t, red.Query, func(x string) string {
			return strings.Replace(x, logoutSLO, logoutSLODone, 1)
		})}, "", respNow, CheckSignature},
		{"redirect SigAlg changed", "corp", LogoutInput{Binding: BindingRedirect, Query: strings.Replace(red.Query, url.QueryEscape(RSASHA256), url.QueryEscape(RSASHA512), 1)}, "", respNow, CheckSignature},
		{"redirect Signature of another message", "corp", LogoutInput{Binding: BindingRedirect, Query: signed + "&Signature=" + otherSig}, "", respNow, CheckSignature},
		{"redirect re-encoded after signing", "corp", LogoutInput{Binding: BindingRedirect, Query: strings.Replace(signed, "%2F", "/", 1) + "&Signature=" + sig}, "", respNow, CheckSignature},
		{"redirect unsigned", "corp", LogoutInput{Binding: BindingRedirect, Query: strings.Split(red.Query, "&SigAlg=")[0]}, "", respNow, CheckSignature},
		{"redirect rsa-sha1 not allowed", "corp", logoutInput(t, sha1Req), "", respNow, CheckSignature},
		{"post NameID changed", "corp", editPost(func(r *etree.Element) { childNS(r, nsSAML, "NameID").SetText("admin@example.com") }), "", respNow, CheckSignature},
		{"post Destination changed", "corp", editPost(func(r *etree.Element) { r.CreateAttr("Destination", logoutSLODone) }), "", respNow, CheckSignature},
		{"post SignatureMethod changed", "corp", editPost(func(r *etree.Element) {
			r.FindElement(".//SignatureMethod").CreateAttr("Algorithm", RSASHA512)
		}), "", respNow, CheckSignature},
		{"post Signature from another message", "corp", editPost(func(r *etree.Element) {
			r.CreateAttr("ID", otherRoot.SelectAttrValue("ID", ""))
			r.RemoveChild(childNS(r, nsDSig, "Signature"))
			r.InsertChildAt(1, childNS(otherRoot, nsDSig, "Signature").Copy())
		}), "", respNow, CheckSignature},
		{"post unsigned", "corp", logoutInput(t, unsignedPost), "", respNow, CheckSignature},
		{"issuer", "corp", logoutInput(t, evilReq), "", respNow, CheckIssuer},
		{"IssueInstant too old", "corp", red, "", respNow.Add(DefaultClockSkew + time.Second), CheckExpired},
		{"IssueInstant in the future", "corp", red, "", respNow.Add(-DefaultClockSkew - time.Second), CheckNotYetValid},
		{"NotOnOrAfter passed", "corp", sign(BindingRedirect, LogoutOptions{NotOnOrAfter: &past}), "", respNow.Add(2 * time.Minute), CheckExpired},
		{"InResponseTo", "corp", red, "_our-request", respNow, CheckInResponseTo},
		{"not a logout message", "corp", func() LogoutInput {
			m, err := idp.AuthnRequest(AuthnOptions{IdP: "sp"})
			if err != nil {
				t.Fatal(err)
			}
			return logoutInput(t, m)
		}(), "", respNow, CheckMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := logoutValidator(t, func(s *ResponseSettings) { s.Now = func() time.Time { return tt.now } })
			got, err := v.VerifyLogout(context.Background(), tt.idp, tt.in, tt.requestID)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			wantMessageCheck(t, err, tt.check)
		})
	}
}

func TestVerifyLogoutDestination(t *testing.T) {
	idp := fakeIdP(t, "", "", true)
	m, err := idp.LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	v := logoutValidator(t, func(s *ResponseSettings) { s.SLOURLs = []string{"https://sp.example.com/other"} })
	_, err = v.VerifyLogout(context.Background(), "corp", logoutInput(t, m), "")
	wantMessageCheck(t, err, CheckDestination)
}

func TestVerifyLogoutReplay(t *testing.T) {
	idp := fakeIdP(t, "", "", true)
	v := logoutValidator(t, nil)
	m, err := idp.LogoutResponse(LogoutResponseOptions{IdP: "sp", InResponseTo: "_r", Binding: BindingPOST})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyLogout(context.Background(), "corp", logoutInput(t, m), ""); err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyLogout(context.Background(), "corp", logoutInput(t, m), "")
	wantMessageCheck(t, err, CheckReplay)
}

// TestVerifyLogoutSHA1Allowed: allow_sha1 accepts an rsa-sha1 logout
// message, except in FIPS 140-3 mode, which refuses it all the same.
func TestVerifyLogoutSHA1Allowed(t *testing.T) {
	m := sha1LogoutRequest(t)
	var uses []string
	v := logoutValidator(t, func(s *ResponseSettings) {
		s.IdPs[0].AllowSHA1 = true
		s.OnDeprecatedSignature = func(idp, alg string) { uses = append(uses, idp+" "+alg) }
	})
	_, err := v.VerifyLogout(context.Background(), "corp", logoutInput(t, m), "")
	if fips.Enabled() {
		wantFIPSRefusal(t, err)
		wantMessageCheck(t, err, CheckSignature)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) != 1 || uses[0] != "corp "+RSASHA1 {
		t.Fatalf("deprecation callbacks %q", uses)
	}
}

func TestVerifyLogoutUnsignedAllowed(t *testing.T) {
	idp := fakeIdP(t, "", "", false)
	v := logoutValidator(t, func(s *ResponseSettings) { s.IdPs[0].AllowUnsignedLogout = true })
	for _, b := range []string{BindingRedirect, BindingPOST} {
		m, err := idp.LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u", Binding: b})
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.VerifyLogout(context.Background(), "corp", logoutInput(t, m), "")
		if err != nil || got.Signed || got.NameID != "u" {
			t.Fatalf("%s: %+v, %v", b, got, err)
		}
	}
	// A signature that is present is still verified.
	m, err := fakeIdP(t, "", "", true).LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u", RelayState: "a"})
	if err != nil {
		t.Fatal(err)
	}
	q := strings.Replace(rawQuery(t, m.URL), "RelayState=a", "RelayState=b", 1)
	_, err = v.VerifyLogout(context.Background(), "corp", LogoutInput{Binding: BindingRedirect, Query: q}, "")
	wantMessageCheck(t, err, CheckSignature)
}

func TestLogoutResponse(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SLO.ResponseLocation = "https://idp.example.com/slo/response"
	svc := mustNew(t, s)
	cert := s.Signing.Leaf()
	for _, b := range []string{BindingRedirect, BindingPOST} {
		m, err := svc.LogoutResponse(LogoutResponseOptions{IdP: "corp", InResponseTo: "_idp-req", Status: LogoutPartial, RelayState: "rs", Binding: b})
		if err != nil {
			t.Fatal(err)
		}
		var got *ReceivedMessage
		if b == BindingRedirect {
			if !strings.HasPrefix(m.URL, "https://idp.example.com/slo/response?SAMLResponse=") {
				t.Fatalf("URL %s", m.URL)
			}
			got, err = VerifyRedirect(rawQuery(t, m.URL), []*x509.Certificate{cert}, false)
		} else {
			if m.Action != "https://idp.example.com/slo/response" || m.Fields[ParamSAMLResponse] == "" || !strings.Contains(m.HTML, `name="SAMLResponse"`) {
				t.Fatalf("form %+v", m)
			}
			got, err = VerifyPOST(postForm(m), []*x509.Certificate{cert}, false, time.Now())
		}
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		top, second := statusCodes(got.root)
		if got.Kind != "LogoutResponse" || got.RelayState != "rs" || got.root.SelectAttrValue("InResponseTo", "") != "_idp-req" ||
			got.root.SelectAttrValue("Destination", "") != "https://idp.example.com/slo/response" || top != StatusSuccess || second != StatusPartialLogout {
			t.Fatalf("%s: %s", b, got.XML)
		}
	}
}

func TestLogoutResponseSwitches(t *testing.T) {
	off := false
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SignLogoutResponse = &off
	m, err := mustNew(t, s).LogoutResponse(LogoutResponseOptions{IdP: "corp", InResponseTo: "_r"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.URL, "Signature=") || !strings.HasPrefix(m.URL, "https://idp.example.com/slo?SAMLResponse=") {
		t.Fatalf("sign_logout_response off: %s", m.URL)
	}
	s = testSettings(t, "rsa2048")
	s.IdPs[0].SignLogoutRequest = false // sign_logout_response follows it
	if m, err = mustNew(t, s).LogoutResponse(LogoutResponseOptions{IdP: "corp", InResponseTo: "_r"}); err != nil || strings.Contains(m.URL, "Signature=") {
		t.Fatalf("default follows sign_logout_request: %v %s", err, m.URL)
	}
}

func TestLogoutResponseBadRequests(t *testing.T) {
	svc := mustNew(t, testSettings(t, "rsa2048"))
	noSLO := testSettings(t, "rsa2048")
	noSLO.IdPs[0].SLO, noSLO.IdPs[0].SignLogoutRequest = config.Endpoint{}, false
	for _, tt := range []struct {
		name string
		svc  *Service
		o    LogoutResponseOptions
		want error
	}{
		{"unknown idp", svc, LogoutResponseOptions{IdP: "x", InResponseTo: "_r"}, ErrUnknownIdP},
		{"no in_response_to", svc, LogoutResponseOptions{IdP: "corp"}, ErrBadRequest},
		{"bad status", svc, LogoutResponseOptions{IdP: "corp", InResponseTo: "_r", Status: "ok"}, ErrBadRequest},
		{"bad binding", svc, LogoutResponseOptions{IdP: "corp", InResponseTo: "_r", Binding: "artifact"}, ErrBadBinding},
		{"control character", svc, LogoutResponseOptions{IdP: "corp", InResponseTo: "_r\n"}, ErrBadRequest},
		{"relay state too long", svc, LogoutResponseOptions{IdP: "corp", InResponseTo: "_r", RelayState: strings.Repeat("a", 81)}, ErrBadRequest},
		{"no slo", mustNew(t, noSLO), LogoutResponseOptions{IdP: "corp", InResponseTo: "_r"}, ErrBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.svc.LogoutResponse(tt.o)
			if !IsBadRequest(err) || !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}
