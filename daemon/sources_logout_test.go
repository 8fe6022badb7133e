package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// TestFederatedLogout: logout messages to and from an IdP known only by
// its entity id in an idp_sources aggregate work as AuthnRequests and
// responses do: a LogoutResponse goes to the SLO endpoint the aggregate
// publishes, and a LogoutRequest the IdP signed with the key the
// aggregate lists verifies (one signed by another key does not).
func TestFederatedLogout(t *testing.T) {
	st := openStore(t)
	addFedSigner(t, st)
	key, cert, _ := fedTestKey(t, 1)
	const entityID, slo = "https://idp-slo.uni.example.edu/idp/shibboleth", "https://idp-slo.uni.example.edu/slo"
	entity := strings.Replace(fedEntity(cert, entityID, "https://idp-slo.uni.example.edu/sso", ""), "<md:SingleSignOnService",
		`<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="`+slo+`"/><md:SingleSignOnService`, 1)
	agg := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_fed" Name="urn:example:fed">` + entity + `</md:EntitiesDescriptor>`
	path := filepath.Join(t.TempDir(), "fed.xml")
	if err := os.WriteFile(path, signFed(t, agg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, fedConfig(config.IdPSource{Name: "fed", AggregateFile: path, SigningCert: "Fed signer"}), st)
	d.updateSources(context.Background())
	h := d.Handler()

	// The IdP's LogoutRequest, signed with the key the aggregate lists.
	peer := func(k *keys.Credential) *sp.Service {
		svc, err := sp.New(sp.Settings{EntityID: entityID, Signing: k,
			IdPs: []config.IdP{{Name: "sp", EntityID: "https://sp.example.com/saml/metadata",
				SSO:               config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/acs"},
				SLO:               config.Endpoint{Binding: "redirect", Location: "https://sp.example.com/saml/slo"},
				SignLogoutRequest: true}}})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	listed := peer(&keys.Credential{RecordName: "idp", Signer: key, Chain: []*x509.Certificate{cert}})
	other := newTestIdP(t, openStore(t))
	unlisted := peer(&keys.Credential{RecordName: "other", Signer: other.idp.Signer, Chain: []*x509.Certificate{other.idp.Certificate}})
	send := func(svc *sp.Service) (*http.Response, string, string) {
		m, err := svc.LogoutRequest(sp.LogoutOptions{IdP: "sp", NameID: "alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(m.URL)
		body, _ := json.Marshal(map[string]string{"idp": entityID, "binding": "redirect", "query": u.RawQuery})
		w := postJSON(t, h, "/api/v1/logout-messages", testToken, string(body))
		return w.Result(), w.Body.String(), m.ID
	}
	resp, body, id := send(listed)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"issuer":"`+entityID+`"`) {
		t.Fatalf("LogoutRequest from the federated IdP: %d %s", resp.StatusCode, body)
	}
	if resp, body, _ := send(unlisted); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, sp.CheckSignature) {
		t.Fatalf("LogoutRequest signed by a key the aggregate does not list: %d %s", resp.StatusCode, body)
	}

	// Our answer goes to the SLO endpoint the aggregate publishes.
	w := postJSON(t, h, "/api/v1/logout-responses", testToken, `{"idp":"`+entityID+`","in_response_to":"`+id+`"}`)
	var msg sp.Message
	if err := json.Unmarshal(w.Body.Bytes(), &msg); w.Code != http.StatusOK || err != nil || !strings.HasPrefix(msg.URL, slo+"?") {
		t.Fatalf("logout-responses to the federated IdP: %d %s", w.Code, w.Body)
	}
	// An entity id no source has is still unknown.
	if w := postJSON(t, h, "/api/v1/logout-responses", testToken, `{"idp":"https://nobody.example.edu/idp","in_response_to":"_x"}`); w.Code != http.StatusNotFound {
		t.Fatalf("unknown entity id: %d %s", w.Code, w.Body)
	}
}
