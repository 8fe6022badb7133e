package daemon

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
	"github.com/samlkeyd/samlkeyd/store"
)

// fedTestKey reads idpmeta's test key i (gen.sh there): 0 signs aggregates and
// MDQ answers, 1 is the IdPs' signing key.
func fedTestKey(t testing.TB, i int) (*rsa.PrivateKey, *x509.Certificate, []byte) {
	t.Helper()
	kb, err := os.ReadFile(fmt.Sprintf("../idpmeta/testdata/key%d.pem", i))
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile(fmt.Sprintf("../idpmeta/testdata/cert%d.pem", i))
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := pem.Decode(kb)
	cp, _ := pem.Decode(cb)
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), c, cb
}

// addFedSigner stores the federation signer (key 0) as the trust-store
// record "Fed signer".
func addFedSigner(t testing.TB, st *store.Store) {
	t.Helper()
	_, _, pemCert := fedTestKey(t, 0)
	if _, err := st.AddRecord(context.Background(), "test", store.NewRecord{Name: "Fed signer", Type: store.TypeTrustStoreCert, Data: pemCert}); err != nil {
		t.Fatal(err)
	}
}

func fedEntityID(i int) string {
	return fmt.Sprintf("https://idp%05d.uni.example.edu/idp/shibboleth", i)
}
func fedSSO(i int) string { return fmt.Sprintf("https://idp%05d.uni.example.edu/sso", i) }

// fedEntity is an IdP EntityDescriptor whose signing certificate is c
// (key 1's in these tests).
func fedEntity(c *x509.Certificate, entityID, sso, attrs string) string {
	return fmt.Sprintf(`<md:EntityDescriptor entityID="%s"%s><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="%s"/></md:IDPSSODescriptor></md:EntityDescriptor>`,
		entityID, attrs, base64.StdEncoding.EncodeToString(c.Raw), sso)
}

// signFed signs doc (its root has ID) with goxmldsig, an implementation
// independent of idpmeta's verifier, the Signature first as in SAML
// metadata.
func signFed(t testing.TB, doc string) []byte {
	t.Helper()
	key, cert, _ := fedTestKey(t, 0)
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	n := len(signed.Child) - 1
	signed.Child = append([]etree.Token{signed.Child[n]}, signed.Child[:n]...)
	d.SetRoot(signed)
	out, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeFedAggregate writes a signed aggregate of n IdPs (fedEntityID(i))
// and returns its path.
func writeFedAggregate(t testing.TB, n int) string {
	t.Helper()
	_, idpCert, _ := fedTestKey(t, 1)
	var b strings.Builder
	b.WriteString(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_fed" Name="urn:example:fed" cacheDuration="PT6H">`)
	for i := range n {
		b.WriteString(fedEntity(idpCert, fedEntityID(i), fedSSO(i), ""))
	}
	b.WriteString(`</md:EntitiesDescriptor>`)
	path := filepath.Join(t.TempDir(), "fed.xml")
	if err := os.WriteFile(path, signFed(t, b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fedIdP is crewjam/saml's IdP as entityID, with key 1 (the certificate
// the federation metadata lists).
func fedIdP(t testing.TB, entityID, sso string) *testIdP {
	key, cert, _ := fedTestKey(t, 1)
	mu := func(s string) url.URL { u, _ := url.Parse(s); return *u }
	return &testIdP{idp: &saml.IdentityProvider{Signer: key, Certificate: cert, MetadataURL: mu(entityID), SSOURL: mu(sso),
		SignatureMethod: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}}
}

type signedMessage struct {
	ID, Binding, URL, Action string
	Fields                   map[string]string
}

// authnTo asks the API for a POST-binding AuthnRequest to idp.
func authnTo(t *testing.T, h http.Handler, idp string) (*httptest.ResponseRecorder, signedMessage) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"idp": idp, "binding": "post"})
	w := postJSON(t, h, "/api/v1/authn-requests", testToken, string(body))
	var m signedMessage
	_ = json.Unmarshal(w.Body.Bytes(), &m)
	return w, m
}

// checkFederatedIdP signs an AuthnRequest to entityID (Destination its SSO
// URL, signed) and validates crewjam's response to it.
func checkFederatedIdP(t *testing.T, h http.Handler, entityID, sso string) {
	t.Helper()
	w, m := authnTo(t, h, entityID)
	if w.Code != http.StatusOK {
		t.Fatalf("authn request to %s: %d %s", entityID, w.Code, w.Body)
	}
	xmlReq, _ := base64.StdEncoding.DecodeString(m.Fields["SAMLRequest"])
	if m.Action != sso || !bytes.Contains(xmlReq, []byte(`Destination="`+sso+`"`)) || !bytes.Contains(xmlReq, []byte("SignatureValue")) {
		t.Fatalf("AuthnRequest to %s: action %s, want a signed request with Destination %s: %s", entityID, m.Action, sso, xmlReq)
	}
	metadata := get(t, h, "/saml/metadata").Body.Bytes()
	resp := fedIdP(t, entityID, sso).respond(t, metadata, m.ID)
	body, _ := json.Marshal(map[string]string{"idp": entityID, "saml_response": resp, "request_id": m.ID})
	w = postJSON(t, h, "/api/v1/responses", testToken, string(body))
	var a struct {
		NameID string `json:"name_id"`
		Issuer string `json:"issuer"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &a)
	if w.Code != http.StatusOK || a.Issuer != entityID || a.NameID != "alice@example.com" {
		t.Fatalf("response from %s: %d %s", entityID, w.Code, w.Body)
	}
	// signed by a key the federation does not list: refused
	other := newTestIdP(t, openStore(t))
	other.idp.MetadataURL = fedIdP(t, entityID, sso).idp.MetadataURL
	body, _ = json.Marshal(map[string]string{"idp": entityID, "saml_response": other.respond(t, metadata, m.ID+"x"), "request_id": m.ID + "x"})
	if w := postJSON(t, h, "/api/v1/responses", testToken, string(body)); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("response signed by an unlisted key: %d %s", w.Code, w.Body)
	}
}

func fedConfig(src ...config.IdPSource) *config.Config {
	cfg := testConfig()
	cfg.IdPSources = src
	return cfg
}

func TestFederatedAggregateIdP(t *testing.T) {
	st := openStore(t)
	addFedSigner(t, st)
	cfg := fedConfig(config.IdPSource{Name: "fed", AggregateFile: writeFedAggregate(t, 3), SigningCert: "Fed signer", SignAuthnRequest: true})
	d := newDaemon(t, cfg, st)
	h := d.Handler()

	// before the first update the aggregate is not loaded: unknown
	if w, _ := authnTo(t, h, fedEntityID(1)); w.Code != http.StatusNotFound {
		t.Fatalf("before the aggregate loaded: %d %s", w.Code, w.Body)
	}
	d.updateSources(context.Background())
	checkFederatedIdP(t, h, fedEntityID(1), fedSSO(1))

	comps := d.SourceComponents()
	if len(comps) != 1 || comps[0].Name != "fed" || !comps[0].OK || comps[0].Err != nil || comps[0].Since.IsZero() {
		t.Fatalf("components: %+v", comps)
	}

	t.Run("kept across unrelated rebuilds", func(t *testing.T) {
		before := d.sources()
		if err := d.Rebuild(context.Background(), "test", nil); err != nil {
			t.Fatal(err)
		}
		c2 := *d.Snapshot().Config
		c2.SP.Metadata.ValidFor = 72 * time.Hour
		if err := d.Rebuild(context.Background(), "test", &c2); err != nil {
			t.Fatal(err)
		}
		if d.sources() != before {
			t.Fatal("sources rebuilt for an unrelated change")
		}
		checkFederatedIdP(t, h, fedEntityID(2), fedSSO(2)) // still loaded, served from the new snapshot
		c3 := c2
		c3.IdPSources = []config.IdPSource{c2.IdPSources[0]}
		c3.IdPSources[0].Refresh = 2 * time.Hour
		if err := d.Rebuild(context.Background(), "test", &c3); err != nil {
			t.Fatal(err)
		}
		if d.sources() == before {
			t.Fatal("sources kept although idp_sources changed")
		}
	})
}

func TestFederatedNamedRecordWins(t *testing.T) {
	st := openStore(t)
	addFedSigner(t, st)
	cfg := fedConfig(config.IdPSource{Name: "fed", AggregateFile: writeFedAggregate(t, 3), SigningCert: "Fed signer"})
	cfg.IdPs = append(cfg.IdPs, config.IdP{Name: "pinned", EntityID: fedEntityID(0),
		SSO: config.Endpoint{Binding: "post", Location: "https://pinned.example.edu/sso"}})
	d := newDaemon(t, cfg, st)
	d.updateSources(context.Background())
	w, m := authnTo(t, d.Handler(), fedEntityID(0))
	if w.Code != http.StatusOK || m.Action != "https://pinned.example.edu/sso" {
		t.Fatalf("entity id of a named record: %d %s, want the named record's SSO", w.Code, w.Body)
	}
	// another entity of the aggregate still comes from the source
	if w, m := authnTo(t, d.Handler(), fedEntityID(1)); w.Code != http.StatusOK || m.Action != fedSSO(1) {
		t.Fatalf("aggregate entity: %d %s", w.Code, w.Body)
	}
}

func TestFederatedUnknownIdP(t *testing.T) {
	st := openStore(t)
	addFedSigner(t, st)
	plain := newDaemon(t, testConfig(), st)
	d := newDaemon(t, fedConfig(config.IdPSource{Name: "fed", AggregateFile: writeFedAggregate(t, 2), SigningCert: "Fed signer"}), st)
	d.updateSources(context.Background())
	const nobody = "https://nobody.example.edu/idp"
	for path, body := range map[string]string{
		"/api/v1/authn-requests":  `{"idp":"` + nobody + `"}`,
		"/api/v1/logout-requests": `{"idp":"` + nobody + `","name_id":"a"}`,
		"/api/v1/responses":       `{"idp":"` + nobody + `","saml_response":"eA=="}`,
	} {
		want := postJSON(t, plain.Handler(), path, testToken, body)
		got := postJSON(t, d.Handler(), path, testToken, body)
		if got.Code != http.StatusNotFound || got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("%s unknown entity id: %d %s, want as without sources: %d %s", path, got.Code, got.Body, want.Code, want.Body)
		}
	}
}

func TestFederatedMDQIdP(t *testing.T) {
	const entityID = "https://idp.mdq.example.org/idp/shibboleth"
	const sso = "https://idp.mdq.example.org/sso"
	_, idpCert, _ := fedTestKey(t, 1)
	doc := signFed(t, strings.Replace(fedEntity(idpCert, entityID, sso, ` ID="_e" cacheDuration="PT1H"`),
		`<md:EntityDescriptor `, `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" `, 1))
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.EscapedPath() != idpmeta.MDQURL("", entityID) {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(doc)
	}))
	defer srv.Close()
	st := openStore(t)
	addFedSigner(t, st)
	d := newDaemon(t, fedConfig(config.IdPSource{Name: "mdq", MDQURL: srv.URL, SigningCert: "Fed signer", SignAuthnRequest: true}), st)
	checkFederatedIdP(t, d.Handler(), entityID, sso)
	if n := requests.Load(); n != 1 {
		t.Errorf("MDQ server asked %d times, want 1 (answers are cached)", n)
	}
	if w, _ := authnTo(t, d.Handler(), "https://nobody.example.org/idp"); w.Code != http.StatusNotFound {
		t.Fatalf("entity the MDQ service does not know: %d %s", w.Code, w.Body)
	}
}

func TestFederatedSourceMissingSigner(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, fedConfig(config.IdPSource{Name: "fed", AggregateFile: "/nonexistent", SigningCert: "No such record"}), st)
	comps := d.SourceComponents()
	if len(comps) != 1 || comps[0].OK || comps[0].Err == nil || !strings.Contains(comps[0].Err.Error(), "No such record") {
		t.Fatalf("a missing signing_cert record: %+v, want one failed component", comps)
	}
	if w, _ := authnTo(t, d.Handler(), "corp"); w.Code != http.StatusOK {
		t.Fatalf("named IdPs still served: %d %s", w.Code, w.Body)
	}
}

func TestFedCacheBounded(t *testing.T) {
	var c fedCache
	s1, s2 := &Snapshot{}, &Snapshot{}
	for i := range fedCacheSize + 10 {
		c.put(fedKey{s1, fmt.Sprint(i)}, &fedEntry{})
	}
	if c.len() != fedCacheSize {
		t.Fatalf("cache holds %d entries, want %d", c.len(), fedCacheSize)
	}
	if _, ok := c.get(fedKey{s1, "0"}); ok {
		t.Error("least recently used entry kept")
	}
	if _, ok := c.get(fedKey{s2, fmt.Sprint(fedCacheSize)}); ok {
		t.Error("entry of another snapshot used")
	}
	c.clear()
	if c.len() != 0 {
		t.Error("clear left entries")
	}
}

// BenchmarkSourcesRebuild: a snapshot rebuild (store change, same config)
// with an aggregate of 1,000 IdPs loaded, and without idp_sources.
func BenchmarkSourcesRebuild(b *testing.B) {
	st := openStore(b)
	addFedSigner(b, st)
	path := writeFedAggregate(b, 1000)
	for _, tc := range []struct {
		name string
		cfg  *config.Config
	}{
		{"without", testConfig()},
		{"aggregate1000", fedConfig(config.IdPSource{Name: "fed", AggregateFile: path, SigningCert: "Fed signer"})},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d, err := New(context.Background(), Options{Config: tc.cfg, Store: st})
			if err != nil {
				b.Fatal(err)
			}
			d.updateSources(context.Background())
			if s := d.sources(); s != nil && s.Status(time.Now())[0].Entities != 1000 {
				b.Fatalf("aggregate not loaded: %+v", s.Status(time.Now()))
			}
			b.ResetTimer()
			for b.Loop() {
				if err := d.Rebuild(context.Background(), "bench", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFederatedConcurrentWithRebuilds: requests to a source IdP while
// snapshots are swapped and the aggregate refreshed (run with -race).
func TestFederatedConcurrentWithRebuilds(t *testing.T) {
	st := openStore(t)
	addFedSigner(t, st)
	d := newDaemon(t, fedConfig(config.IdPSource{Name: "fed", AggregateFile: writeFedAggregate(t, 4), SigningCert: "Fed signer"}), st)
	d.updateSources(context.Background())
	h := d.Handler()
	done := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := range 10 {
				body, _ := json.Marshal(map[string]string{"idp": fedEntityID((g + i) % 4)})
				if w := postJSON(t, h, "/api/v1/authn-requests", testToken, string(body)); w.Code != http.StatusOK {
					done <- fmt.Errorf("%d %s", w.Code, w.Body)
					return
				}
			}
			done <- nil
		}()
	}
	for range 3 {
		if err := d.Rebuild(context.Background(), "test", nil); err != nil {
			t.Fatal(err)
		}
		d.updateSources(context.Background())
		_ = d.SourceComponents()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
