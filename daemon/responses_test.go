package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/store"
)

const idpEntity = "https://idp.example.com/metadata"

// testIdP is an independent IdP implementation (crewjam/saml's) with its own
// key, whose signing certificate is stored as a trust-store record.
type testIdP struct {
	idp *saml.IdentityProvider
}

func newTestIdP(t *testing.T, st *store.Store) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Corp IdP signing"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := st.AddRecord(context.Background(), "test", store.NewRecord{Name: "Corp IdP signing", Type: store.TypeTrustStoreCert,
		Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}); err != nil {
		t.Fatal(err)
	}
	mu := func(s string) url.URL { u, _ := url.Parse(s); return *u }
	return &testIdP{idp: &saml.IdentityProvider{Signer: key, Certificate: cert, MetadataURL: mu(idpEntity),
		SSOURL: mu("https://idp.example.com/sso"), SignatureMethod: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}}
}

// respond answers requestID for our SP, encrypting the assertion to the
// encryption certificate our metadata publishes, and returns the
// SAMLResponse form value.
func (p *testIdP) respond(t *testing.T, metadata []byte, requestID string) string {
	t.Helper()
	var md saml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &md); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req := &saml.IdpAuthnRequest{
		IDP: p.idp, HTTPRequest: httptest.NewRequest("POST", "https://idp.example.com/sso", nil),
		Request:                 saml.AuthnRequest{ID: requestID, IssueInstant: now},
		ServiceProviderMetadata: &md, SPSSODescriptor: &md.SPSSODescriptors[0],
		ACSEndpoint: &md.SPSSODescriptors[0].AssertionConsumerServices[0], Now: now,
	}
	sess := &saml.Session{NameID: "alice@example.com", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Index: "session-1", UserEmail: "alice@example.com", Groups: []string{"admins"}, CreateTime: now}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, sess); err != nil {
		t.Fatal(err)
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
	if !strings.Contains(string(b), "EncryptedAssertion") {
		t.Fatal("the IdP did not encrypt the assertion to our metadata's encryption certificate")
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestAPIResponses(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	cfg := testConfig()
	cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
	cfg.IdPs[0].EncryptAssertion = true
	cfg.SP.WantAssertionsSigned = true
	d := newDaemon(t, cfg, st)
	h := d.Handler()
	metadata := get(t, h, "/saml/metadata").Body.Bytes()

	body := func(resp, reqID string) string {
		b, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp, "request_id": reqID})
		return string(b)
	}
	resp := idp.respond(t, metadata, "_req1")
	w := postJSON(t, h, "/api/v1/responses", testToken, body(resp, "_req1"))
	if w.Code != http.StatusOK {
		t.Fatalf("verify: %d %s", w.Code, w.Body)
	}
	var a struct {
		NameID       string              `json:"name_id"`
		SessionIndex string              `json:"session_index"`
		Issuer       string              `json:"issuer"`
		Attributes   map[string][]string `json:"attributes"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if a.NameID != "alice@example.com" || a.SessionIndex != "session-1" || a.Issuer != idpEntity {
		t.Fatalf("assertion: %s", w.Body)
	}

	for _, tc := range []struct {
		name, body string
		code       int
		check      string
	}{
		{"replayed", body(resp, "_req1"), http.StatusUnprocessableEntity, "replay"},
		{"other request id", body(idp.respond(t, metadata, "_req2"), "_req3"), http.StatusUnprocessableEntity, "in_response_to"},
		{"not base64", body("%%%", ""), http.StatusUnprocessableEntity, "malformed"},
		{"unknown IdP", `{"idp":"nobody","saml_response":"eA=="}`, http.StatusNotFound, "unknown_idp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postJSON(t, h, "/api/v1/responses", testToken, tc.body)
			var e apiError
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.code || e.Error != tc.check {
				t.Fatalf("status %d error %q, want %d %q: %s", w.Code, e.Error, tc.code, tc.check, w.Body)
			}
		})
	}

	// The replay cache outlives snapshots: a rebuild does not forget.
	if err := d.Rebuild(context.Background(), "test", nil); err != nil {
		t.Fatal(err)
	}
	if w := postJSON(t, h, "/api/v1/responses", testToken, body(resp, "_req1")); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("replay after a snapshot rebuild: %d %s", w.Code, w.Body)
	}

	t.Run("IdP without signing certificates", func(t *testing.T) {
		cfg := testConfig()
		cfg.IdPs = append(cfg.IdPs, config.IdP{Name: "bare", EntityID: "https://bare.example.com",
			SSO: config.Endpoint{Binding: "redirect", Location: "https://bare.example.com/sso"}})
		d := newDaemon(t, cfg, st)
		w := postJSON(t, d.Handler(), "/api/v1/responses", testToken, `{"idp":"bare","saml_response":"eA=="}`)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "no signing certificate") {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	})
}

// TestIdPMetadataURL: an IdP known only by its metadata_url gets its signing
// certificates when the daemon fetches the metadata, and a metadata document
// that fails its signature check is rejected without disturbing service.
func TestIdPMetadataURL(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	mdXML, err := xml.Marshal(idp.idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(mdXML)
	}))
	defer srv.Close()

	cfg := testConfig()
	cfg.IdPs[0].MetadataURL = srv.URL
	cfg.IdPs[0].AllowHTTP = true
	d := newDaemon(t, cfg, st)
	h := d.Handler()
	metadata := get(t, h, "/saml/metadata").Body.Bytes()
	body := func(resp string) string {
		b, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp})
		return string(b)
	}
	if w := postJSON(t, h, "/api/v1/responses", testToken, body(idp.respond(t, metadata, "_r1"))); w.Code != http.StatusNotFound {
		t.Fatalf("before the metadata is fetched: %d %s", w.Code, w.Body)
	}
	d.refreshIdPMetadata(context.Background())
	if w := postJSON(t, h, "/api/v1/responses", testToken, body(idp.respond(t, metadata, "_r2"))); w.Code != http.StatusOK {
		t.Fatalf("after the metadata is fetched: %d %s", w.Code, w.Body)
	}

	// The same (unsigned) metadata, now required to be signed.
	signed := testConfig()
	signed.IdPs[0].MetadataURL = srv.URL
	signed.IdPs[0].AllowHTTP = true
	signed.IdPs[0].MetadataSigningCert = "Corp IdP signing"
	// The IdP fails alone: its responses are refused with the reason,
	// the reload is not.
	d.applyConfig(context.Background(), "test", signed)
	if got := testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("snapshot")); got != 0 {
		t.Fatalf("unsigned metadata with metadata_signing_cert: reload failures = %v, want 0", got)
	}
	w := postJSON(t, h, "/api/v1/responses", testToken, body(idp.respond(t, metadata, "_r3")))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"idp_unavailable"`) || !strings.Contains(w.Body.String(), "metadata signature") {
		t.Fatalf("response for an IdP whose metadata signature fails: %d %s", w.Code, w.Body)
	}
}
