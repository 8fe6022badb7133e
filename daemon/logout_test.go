package daemon

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// logoutIdP is the test IdP's key signing logout messages to our SP, with
// sp's own signer playing the IdP (sp's tests hold it to real IdPs).
func logoutIdP(t *testing.T, p *testIdP) *sp.Service {
	t.Helper()
	svc, err := sp.New(sp.Settings{
		EntityID: idpEntity,
		IdPs: []config.IdP{{Name: "sp", EntityID: "https://sp.example.com/saml/metadata",
			SSO:               config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/acs"},
			SLO:               config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/slo"},
			SignLogoutRequest: true}},
		Signing: &keys.Credential{RecordName: "idp", Signer: p.idp.Signer, Chain: []*x509.Certificate{p.idp.Certificate}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestAPILogoutMessages(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	cfg := testConfig()
	cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
	h := newDaemon(t, cfg, st).Handler()
	peer := logoutIdP(t, idp)

	red, err := peer.LogoutRequest(sp.LogoutOptions{IdP: "sp", NameID: "alice@example.com", SessionIndex: []string{"s1"}, RelayState: "/bye"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(red.URL)
	body, _ := json.Marshal(map[string]string{"idp": "corp", "binding": "redirect", "query": u.RawQuery})
	w := postJSON(t, h, "/api/v1/logout-messages", testToken, string(body))
	if w.Code != http.StatusOK {
		t.Fatalf("redirect LogoutRequest: %d %s", w.Code, w.Body)
	}
	var got sp.LogoutMessage
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Kind != "LogoutRequest" || got.ID != red.ID || got.NameID != "alice@example.com" || got.RelayState != "/bye" ||
		len(got.SessionIndexes) != 1 || got.Issuer != idpEntity {
		t.Fatalf("answer %s", w.Body)
	}
	// Answer it: a LogoutResponse signed with our key, to the IdP's SLO.
	w = postJSON(t, h, "/api/v1/logout-responses", testToken, `{"idp":"corp","in_response_to":"`+red.ID+`","status":"partial","binding":"post","relay_state":"/bye"}`)
	var msg sp.Message
	if err := json.Unmarshal(w.Body.Bytes(), &msg); w.Code != http.StatusOK || err != nil || msg.Action != "https://idp.example.com/slo" || msg.Fields["SAMLResponse"] == "" {
		t.Fatalf("logout-responses: %d %s", w.Code, w.Body)
	}

	// Replayed, tampered, malformed: 422 naming the check only.
	for _, tc := range []struct{ name, body, check string }{
		{"replay", string(body), sp.CheckReplay},
		{"tampered", strings.Replace(string(body), "RelayState=%2Fbye", "RelayState=%2Fbuy", 1), sp.CheckSignature},
		{"malformed post", `{"idp":"corp","binding":"post","saml_request":"PHg+"}`, sp.CheckMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postJSON(t, h, "/api/v1/logout-messages", testToken, tc.body)
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != http.StatusUnprocessableEntity || err != nil || e.Error != tc.check {
				t.Fatalf("%d %s, want 422 %s", w.Code, w.Body, tc.check)
			}
			if e.Detail != logoutCheckDetail(tc.check) {
				t.Fatalf("detail %q carries more than the check", e.Detail)
			}
		})
	}
	for _, tc := range []struct {
		name, body string
		code       int
	}{
		{"unknown idp", `{"idp":"nobody","binding":"redirect","query":"SAMLRequest=x"}`, http.StatusNotFound},
		{"no query", `{"idp":"corp","binding":"redirect"}`, http.StatusBadRequest},
		{"both messages", `{"idp":"corp","binding":"post","saml_request":"x","saml_response":"y"}`, http.StatusBadRequest},
		{"artifact", `{"idp":"corp","binding":"artifact"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := postJSON(t, h, "/api/v1/logout-messages", testToken, tc.body); w.Code != tc.code {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.code)
			}
		})
	}
	if w := postJSON(t, h, "/api/v1/logout-messages", adminToken, string(body)); w.Code != http.StatusForbidden {
		t.Fatalf("admin token: %d, want 403", w.Code)
	}
}
