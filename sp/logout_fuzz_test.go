package sp

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyLogout feeds arbitrary logout documents, seeded from the fake
// IdP's LogoutRequest and LogoutResponse, to VerifyLogout in both bindings
// (unsigned ones allowed, so that every check past the signature runs):
// each refusal is a *MessageError with a known check, and what is accepted
// is a logout message from the IdP to one of our SLO URLs.
func FuzzVerifyLogout(f *testing.F) {
	idp := fakeIdP(f, "", "", false)
	req, err := idp.LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u", SessionIndex: []string{"s"}, Binding: BindingPOST})
	if err != nil {
		f.Fatal(err)
	}
	resp, err := idp.LogoutResponse(LogoutResponseOptions{IdP: "sp", InResponseTo: "_r", Status: LogoutPartial, Binding: BindingPOST})
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*Message{req, resp} {
		for _, v := range m.Fields {
			raw, _ := base64.StdEncoding.DecodeString(v)
			f.Add(raw, false)
			f.Add(raw, true)
		}
	}
	f.Add([]byte(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0"/>`), true)
	f.Add([]byte(`<!DOCTYPE x><x/>`), false)
	checks := map[string]bool{CheckMalformed: true, CheckSignature: true, CheckIssuer: true, CheckDestination: true, CheckExpired: true,
		CheckNotYetValid: true, CheckInResponseTo: true, CheckReplay: true, CheckSubject: true, CheckDecrypt: true, CheckStatus: true}
	v := logoutValidator(f, func(s *ResponseSettings) {
		s.IdPs[0].AllowUnsignedLogout = true
		s.Replay = nopReplay{}
	})
	f.Fuzz(func(t *testing.T, doc []byte, redirect bool) {
		param := ParamSAMLRequest
		if strings.Contains(string(doc), "LogoutResponse") {
			param = ParamSAMLResponse
		}
		in := LogoutInput{Binding: BindingPOST, Form: url.Values{param: {b64(doc)}}}
		if redirect {
			in = LogoutInput{Binding: BindingRedirect, Query: param + "=" + url.QueryEscape(b64(deflate(t, doc)))}
		}
		m, err := v.VerifyLogout(context.Background(), "corp", in, "")
		if err != nil {
			me, ok := IsMessageRefusal(err)
			if !ok || !checks[me.Check] {
				t.Fatalf("error %T: %v", err, err)
			}
			return
		}
		if m.Issuer != respIdPEntity || (m.Kind != "LogoutRequest" && m.Kind != "LogoutResponse") || m.ID == "" {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// nopReplay remembers nothing, so that a fuzz input is judged on its own.
type nopReplay struct{}

func (nopReplay) Record(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, nil
}
