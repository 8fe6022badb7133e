package daemon

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

const (
	baseSigningID = "3685fc22930212003c5537ae867ffb91"
	testToken     = "test-token-sign"
	adminToken    = "test-token-admin"
)

func testConfig() *config.Config {
	return &config.Config{
		Listen: "127.0.0.1:0",
		SP: config.SP{
			EntityID:             "https://sp.example.com/saml/metadata",
			BaseURL:              "https://sp.example.com",
			ACS:                  []config.Endpoint{{Binding: "post", Location: "https://sp.example.com/saml/acs", Index: 0, Default: true}},
			SLO:                  []config.Endpoint{{Binding: "redirect", Location: "https://sp.example.com/saml/slo"}},
			NameIDFormats:        []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
			WantAssertionsSigned: true,
			Metadata:             config.Metadata{ValidFor: 48 * time.Hour, CacheDuration: 24 * time.Hour},
		},
		IdPs: []config.IdP{{
			Name:               "corp",
			EntityID:           "https://idp.example.com/metadata",
			SSO:                config.Endpoint{Binding: "redirect", Location: "https://idp.example.com/sso"},
			SLO:                config.Endpoint{Binding: "redirect", Location: "https://idp.example.com/slo"},
			SignatureAlgorithm: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
			SignAuthnRequest:   true,
			SignLogoutRequest:  true,
		}},
		API: config.API{Tokens: []config.Token{
			{Name: "app1", SHA256: HashToken(testToken), Scopes: []string{ScopeSign}},
			{Name: "ops", SHA256: HashToken(adminToken), Scopes: []string{ScopeAdmin}},
		}},
	}
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{
		DataDir:   t.TempDir(),
		MasterKey: secret.FromString(strings.Repeat("ab", 32)),
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newDaemon(t testing.TB, cfg *config.Config, st Store) *Daemon {
	t.Helper()
	d, err := New(context.Background(), Options{Config: cfg, Store: st, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	return d
}

// addKeystore generates a fresh self-signed keystore and stores it as an
// active record, returning its id.
func addKeystore(t testing.TB, st *store.Store, name, alg string, size int) string {
	t.Helper()
	e, err := keys.Generate(keys.GenerateOptions{Alias: "saml2sp", KeyAlg: alg, KeySize: size, ValidityDays: 365, DName: "CN=" + name})
	if err != nil {
		t.Fatal(err)
	}
	pw := secret.FromString("changeit")
	data, err := (&keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{e}}).Marshal(pw, pw)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.AddRecord(context.Background(), "test", store.NewRecord{
		Name: name, Type: store.TypePKCS12, Data: data, Alias: "saml2sp", StorePassword: pw, KeyPassword: pw,
	})
	if err != nil {
		t.Fatalf("add record %q: %v", name, err)
	}
	return rec.ID
}

// certOf returns the leaf certificate of a keystore record.
func certOf(t testing.TB, st *store.Store, id string) *x509.Certificate {
	t.Helper()
	rec, err := st.Record(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rec.Credential(keys.UseSigning)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf()
}

func get(t testing.TB, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// metadataCerts parses metadata with crewjam/saml and returns the DER of
// the signing and encryption certificates, in document order.
func metadataCerts(t testing.TB, body []byte) (signing, encryption [][]byte) {
	t.Helper()
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(body, &ed); err != nil {
		t.Fatalf("metadata does not parse: %v\n%s", err, body)
	}
	if len(ed.SPSSODescriptors) != 1 {
		t.Fatalf("want one SPSSODescriptor, got %d", len(ed.SPSSODescriptors))
	}
	for _, kd := range ed.SPSSODescriptors[0].KeyDescriptors {
		if len(kd.KeyInfo.X509Data.X509Certificates) != 1 {
			t.Fatalf("KeyDescriptor %s: want one certificate, got %d", kd.Use, len(kd.KeyInfo.X509Data.X509Certificates))
		}
		der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(kd.KeyInfo.X509Data.X509Certificates[0].Data), ""))
		if err != nil {
			t.Fatal(err)
		}
		switch kd.Use {
		case "signing":
			signing = append(signing, der)
		case "encryption":
			encryption = append(encryption, der)
		default:
			t.Fatalf("KeyDescriptor use %q", kd.Use)
		}
	}
	return signing, encryption
}

func TestMetadataFollowsProperties(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()
	ctx := context.Background()

	encID, ok, err := st.Property(ctx, store.PropEncryptionKeystore)
	if err != nil || !ok {
		t.Fatalf("encryption property: %q %v %v", encID, ok, err)
	}
	sigID, _, _ := st.Property(ctx, store.PropSigningKeystore)
	if sigID != baseSigningID || encID == sigID {
		t.Fatalf("fresh store properties: signing %q encryption %q", sigID, encID)
	}

	w := get(t, h, "/saml/metadata")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("GET /saml/metadata: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	signing, encryption := metadataCerts(t, w.Body.Bytes())
	if len(signing) != 1 || len(encryption) != 1 {
		t.Fatalf("want one signing and one encryption certificate, got %d and %d", len(signing), len(encryption))
	}
	if !bytes.Equal(signing[0], certOf(t, st, sigID).Raw) {
		t.Error("signing KeyDescriptor is not the certificate the signing property selects")
	}
	if !bytes.Equal(encryption[0], certOf(t, st, encID).Raw) {
		t.Error("encryption KeyDescriptor is not the certificate the encryption property selects")
	}
	if bytes.Equal(signing[0], encryption[0]) {
		t.Error("signing and encryption certificates are the same although the properties differ")
	}

	// The PEM endpoints wrap exactly the metadata's certificates.
	for use, want := range map[string][]byte{"signing": signing[0], "encryption": encryption[0]} {
		w := get(t, h, "/saml/certs/"+use+".pem")
		blk, rest := pem.Decode(w.Body.Bytes())
		if w.Code != http.StatusOK || blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("GET %s.pem: %d %q", use, w.Code, w.Body.String())
		}
		if !bytes.Equal(blk.Bytes, want) {
			t.Errorf("%s.pem differs from the metadata's %s certificate", use, use)
		}
	}
}

func TestPropertySwitchUnderLoad(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx := context.Background()

	oldCert := certOf(t, st, baseSigningID).Raw
	newID := addKeystore(t, st, "Rotated signing", "RSA", 2048)
	newCert := certOf(t, st, newID).Raw

	var (
		stop     atomic.Bool
		requests atomic.Int64
		failures atomic.Int64
		sawNew   atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		failures.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := srv.Client().Get(srv.URL + "/saml/metadata")
				if err != nil {
					fail(err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				requests.Add(1)
				if err != nil || resp.StatusCode != http.StatusOK {
					fail(errors.Join(err, errors.New(resp.Status)))
					continue
				}
				var ed saml.EntityDescriptor
				if err := xml.Unmarshal(body, &ed); err != nil {
					fail(err)
					continue
				}
				der, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(ed.SPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data), ""))
				switch {
				case bytes.Equal(der, newCert):
					sawNew.Store(true)
				case bytes.Equal(der, oldCert):
				default:
					fail(errors.New("metadata served a signing certificate from neither snapshot"))
				}
			}
		}()
	}
	for requests.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, newID); err != nil {
		t.Fatal(err)
	}
	d.pollOnce(ctx) // what the poll ticker does
	for n := requests.Load(); requests.Load() < n+50; {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the switch; first: %v", failures.Load(), requests.Load(), firstErr)
	}
	if !sawNew.Load() {
		t.Fatal("the new signing certificate was never served after the property switch")
	}
	signing, _ := metadataCerts(t, get(t, d.Handler(), "/saml/metadata").Body.Bytes())
	if !bytes.Equal(signing[0], newCert) {
		t.Fatal("metadata does not publish the newly selected signing certificate")
	}
	t.Logf("%d requests, 0 failures across the switch", requests.Load())
}

func TestBadChangesKeepPreviousSnapshot(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	before := get(t, d.Handler(), "/saml/metadata").Body.Bytes()
	ctx := context.Background()

	ecAlg := testConfig()
	ecAlg.IdPs[0].SignatureAlgorithm = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	missing := testConfig()
	missing.Properties = []config.Property{{Name: store.PropSigningKeystore, Value: "ffffffffffffffffffffffffffffffff"}}
	for name, cfg := range map[string]*config.Config{"ecdsa algorithm with an RSA key": ecAlg, "property names a missing record": missing} {
		t.Run(name, func(t *testing.T) {
			failures := testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("snapshot"))
			d.applyConfig(ctx, "test", cfg)
			if got := testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("snapshot")); got != failures+1 {
				t.Errorf("reload failure metric = %v, want %v", got, failures+1)
			}
			if after := get(t, d.Handler(), "/saml/metadata").Body.Bytes(); !bytes.Equal(before, after) {
				t.Error("metadata changed after a rejected config")
			}
		})
	}

	t.Run("config file that does not load", func(t *testing.T) {
		d.opts.LoadConfig = func() (*config.Config, error) { return nil, errors.New("config file is empty") }
		d.reloadConfig(ctx, "sighup")
		if got := testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("config")); got != 1 {
			t.Errorf("config reload failure metric = %v", got)
		}
		if after := get(t, d.Handler(), "/saml/metadata").Body.Bytes(); !bytes.Equal(before, after) {
			t.Error("metadata changed after a config that did not load")
		}
	})

	t.Run("store change that does not build", func(t *testing.T) {
		// An EC signing key under an IdP configured for rsa-sha256: the
		// store accepts the record and the property, the snapshot refuses
		// the key/algorithm mismatch.
		d.opts.LoadConfig = nil
		ecID := addKeystore(t, st, "EC signing", "EC", 256)
		if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, ecID); err != nil {
			t.Fatal(err)
		}
		d.pollOnce(ctx)
		d.pollOnce(ctx) // the same failed store version is not rebuilt on every poll
		if got := testutil.ToFloat64(d.metrics.buildFailures.WithLabelValues("store")); got != 1 {
			t.Errorf("store-triggered build failures = %v, want 1", got)
		}
		if after := get(t, d.Handler(), "/saml/metadata").Body.Bytes(); !bytes.Equal(before, after) {
			t.Error("metadata changed after a store change that did not build")
		}
	})
}

func postJSON(t testing.TB, h http.Handler, path, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAPIAuth(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()
	body := `{"idp":"corp","relay_state":"/home"}`
	for _, tc := range []struct {
		name, token string
		code        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope", http.StatusUnauthorized},
		{"token without sign scope", adminToken, http.StatusForbidden},
		{"sign token", testToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postJSON(t, h, "/api/v1/authn-requests", tc.token, body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			var out map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("body is not JSON: %q", w.Body)
			}
			if tc.code != http.StatusOK && out["error"] == nil {
				t.Fatalf("error body without error field: %s", w.Body)
			}
		})
	}

	t.Run("API off without tokens", func(t *testing.T) {
		cfg := testConfig()
		cfg.API.Tokens = nil
		d := newDaemon(t, cfg, st)
		if w := postJSON(t, d.Handler(), "/api/v1/authn-requests", testToken, body); w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d with no tokens configured", w.Code)
		}
	})
}

func TestAPISignRequests(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()

	w := postJSON(t, h, "/api/v1/authn-requests", testToken, `{"idp":"corp","relay_state":"a&SigAlg=evil","binding":"redirect"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("authn redirect: %d %s", w.Code, w.Body)
	}
	var msg struct{ ID, Binding, URL string }
	if err := json.Unmarshal(w.Body.Bytes(), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Binding != "redirect" || !strings.HasPrefix(msg.URL, "https://idp.example.com/sso?") || !strings.HasPrefix(msg.ID, "_") {
		t.Fatalf("authn redirect answer: %+v", msg)
	}
	if n := strings.Count(msg.URL, "SigAlg="); n != 1 {
		t.Fatalf("redirect URL has %d SigAlg parameters: %s", n, msg.URL)
	}

	w = postJSON(t, h, "/api/v1/logout-requests", testToken, `{"idp":"corp","name_id":"alice@example.com","session_index":"s1","binding":"post"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("logout post: %d %s", w.Code, w.Body)
	}
	var post struct {
		Binding, Action, HTML string
		Fields                map[string]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &post); err != nil {
		t.Fatal(err)
	}
	if post.Binding != "post" || post.Action != "https://idp.example.com/slo" || post.Fields["SAMLRequest"] == "" || !strings.Contains(post.HTML, "<form") {
		t.Fatalf("logout post answer: %s", w.Body)
	}
}

func TestAPIHostileInput(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()
	for _, tc := range []struct {
		name, path, body string
		code             int
	}{
		{"huge body", "/api/v1/authn-requests", `{"idp":"corp","relay_state":"` + strings.Repeat("a", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"bad JSON", "/api/v1/authn-requests", `{"idp":`, http.StatusBadRequest},
		{"unknown field", "/api/v1/authn-requests", `{"idp":"corp","evil":1}`, http.StatusBadRequest},
		{"two objects", "/api/v1/authn-requests", `{"idp":"corp"}{"idp":"corp"}`, http.StatusBadRequest},
		{"unknown IdP", "/api/v1/authn-requests", `{"idp":"nobody"}`, http.StatusNotFound},
		{"bad binding", "/api/v1/authn-requests", `{"idp":"corp","binding":"soap"}`, http.StatusBadRequest},
		{"XML-ish RelayState over 80 bytes", "/api/v1/authn-requests", `{"idp":"corp","relay_state":"` + strings.Repeat("<x/>", 21) + `"}`, http.StatusBadRequest},
		{"logout without name id", "/api/v1/logout-requests", `{"idp":"corp"}`, http.StatusBadRequest},
		{"unknown route", "/api/v1/nothing", `{}`, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postJSON(t, h, tc.path, testToken, tc.body)
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %.300s", w.Code, tc.code, w.Body)
			}
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("error body %q is not {error, detail}", w.Body)
			}
			if strings.Contains(w.Body.String(), "PRIVATE KEY") || strings.Contains(w.Body.String(), "changeit") {
				t.Fatal("error body leaks key material")
			}
		})
	}
	if w := get(t, h, "/saml/metadata"); w.Code != http.StatusOK {
		t.Fatalf("daemon stopped serving metadata after hostile input: %d", w.Code)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()
	if w := get(t, h, "/healthz"); w.Code != http.StatusOK {
		t.Fatalf("healthz %d", w.Code)
	}
	if w := get(t, h, "/readyz"); w.Code != http.StatusOK {
		t.Fatalf("readyz %d", w.Code)
	}
	get(t, h, "/saml/metadata")
	w := get(t, h, "/metrics")
	body := w.Body.String()
	for _, want := range []string{
		`samlkeyd_certificate_not_after_timestamp_seconds{id="` + baseSigningID + `",name="SAML 2.0 Keystore_Key2048_SHA256",use="signing"}`,
		`samlkeyd_http_requests_total{code="200",route="GET /saml/metadata"} 1`,
		`samlkeyd_snapshot_builds_total 1`,
		`samlkeyd_store_up 1`,
		`samlkeyd_snapshot_age_seconds`,
		`samlkeyd_build_info{goversion="` + runtime.Version() + `"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `use="encryption"`) == false {
		t.Error("/metrics has no encryption certificate series")
	}
}

func TestNotReadyWithoutSnapshot(t *testing.T) {
	d := &Daemon{log: testLogger(t)}
	d.registry = nil
	w := httptest.NewRecorder()
	d.readyz(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz without snapshot: %d", w.Code)
	}
}

func TestRunGracefulShutdown(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	ln, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz over the network: %v %v", err, resp)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx was cancelled")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
}

func TestMetadataRerenderedBeforeValidUntil(t *testing.T) {
	st := openStore(t)
	var now atomic.Int64
	now.Store(time.Now().Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	d, err := New(context.Background(), Options{Config: testConfig(), Store: st, Logger: testLogger(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	first := d.Snapshot().Metadata
	if !first.RefreshAt().Before(first.ValidUntil()) {
		t.Fatalf("refresh at %v is not before validUntil %v", first.RefreshAt(), first.ValidUntil())
	}
	d.pollOnce(context.Background())
	if d.Snapshot().Metadata != first {
		t.Fatal("metadata re-rendered although nothing changed and the refresh time is ahead")
	}
	now.Store(first.RefreshAt().Unix())
	d.pollOnce(context.Background())
	second := d.Snapshot().Metadata
	if second == first || !second.ValidUntil().After(first.ValidUntil()) {
		t.Fatalf("metadata not re-rendered at its refresh time: validUntil %v -> %v", first.ValidUntil(), second.ValidUntil())
	}
}

// TestConfigFileReload runs the daemon with a config file: a good edit is
// served, a bad edit (invalid YAML, then a truncated file) is rejected and
// the last good metadata keeps serving.
func TestConfigFileReload(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	file := dir + "/samlkeyd.yaml"
	write := func(s string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	good := func(entity string) string {
		return "sp:\n  entity_id: " + entity + "\n  base_url: https://sp.example.com\n"
	}
	write(good("https://sp.example.com/one"))
	load := func() (*config.Config, error) {
		return config.Load(config.LoadOptions{File: file, Env: func(string) (string, bool) { return "", false }})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), Options{Config: cfg, ConfigFile: file, LoadConfig: load, Store: st, Logger: testLogger(t), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln) }()
	defer func() { cancel(); <-done }()

	entity := func() string { return d.Snapshot().Config.SP.EntityID }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !cond() {
			select {
			case <-deadline:
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	write(good("https://sp.example.com/two"))
	waitFor("the edited entity id", func() bool { return entity() == "https://sp.example.com/two" })
	served := get(t, d.Handler(), "/saml/metadata").Body.Bytes()

	for i, bad := range []string{"sp: [unclosed\n", ""} {
		before := testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("config"))
		write(bad)
		waitFor("a counted reload failure", func() bool {
			return testutil.ToFloat64(d.metrics.reloadFailures.WithLabelValues("config")) > before
		})
		if got := get(t, d.Handler(), "/saml/metadata").Body.Bytes(); !bytes.Equal(got, served) {
			t.Fatalf("bad edit %d changed the served metadata", i)
		}
	}
	write(good("https://sp.example.com/three"))
	waitFor("recovery after the bad edits", func() bool { return entity() == "https://sp.example.com/three" })
}
