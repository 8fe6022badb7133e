package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/store"
)

// webhookReceiver collects the alerts posted to it, checking their HMAC.
func webhookReceiver(t *testing.T, key []byte) (*httptest.Server, <-chan map[string]any) {
	t.Helper()
	got := make(chan map[string]any, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if key != nil {
			m := hmac.New(sha256.New, key)
			m.Write(body)
			if sig := r.Header.Get("X-Samlkeyd-Signature"); sig != "sha256="+hex.EncodeToString(m.Sum(nil)) {
				t.Errorf("webhook signature %q does not verify", sig)
			}
		}
		var a map[string]any
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook body is not JSON: %s", body)
		}
		got <- a
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestExpiryAlertsOnceAcrossRestartsAndReplicas(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "Partner root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(5 * 24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if _, err := st.AddRecord(ctx, "test", store.NewRecord{Name: "Partner root", Type: store.TypeTrustStoreCert,
		Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}); err != nil {
		t.Fatal(err)
	}
	hmacKey := []byte("webhook-secret")
	secretFile := filepath.Join(t.TempDir(), "hook.key")
	if err := os.WriteFile(secretFile, append(hmacKey, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, got := webhookReceiver(t, hmacKey)
	cfg := testConfig()
	cfg.Alerts = config.Alerts{
		Thresholds: []time.Duration{60 * 24 * time.Hour, 30 * 24 * time.Hour, 7 * 24 * time.Hour, 24 * time.Hour},
		Webhook:    &config.Webhook{URL: srv.URL, HMACSecretFile: secretFile, Timeout: 5 * time.Second},
	}

	d := newDaemon(t, cfg, st)
	d.scanExpiry(ctx)
	select {
	case a := <-got:
		subj, _ := a["subject"].(map[string]any)
		if a["kind"] != "expiry" || a["severity"] != "critical" || subj["owner"] != "Partner root" || subj["threshold"] != "168h0m0s" {
			t.Fatalf("expiry alert: %v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no expiry alert reached the webhook")
	}
	// The same scan again, and a second daemon on the same store (a
	// restart or another replica): nothing new is sent.
	d.scanExpiry(ctx)
	d2 := newDaemon(t, cfg, st)
	d2.scanExpiry(ctx)
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.alerts.Close(closeCtx)
	d2.alerts.Close(closeCtx)
	select {
	case a := <-got:
		t.Fatalf("alert sent twice: %v", a)
	default:
	}
}

func TestSnapshotFailureAlerts(t *testing.T) {
	st := openStore(t)
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.Alerts.Webhook = &config.Webhook{URL: srv.URL}
	d := newDaemon(t, cfg, st)
	bad := testConfig()
	bad.Alerts = cfg.Alerts
	bad.Properties = []config.Property{{Name: store.PropSigningKeystore, Value: "ffffffffffffffffffffffffffffffff"}}
	d.applyConfig(context.Background(), "test", bad)
	select {
	case a := <-got:
		if a["kind"] != "snapshot_failed" {
			t.Fatalf("alert: %v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no alert for a rejected snapshot")
	}
}

func TestCheckTransitionAlerts(t *testing.T) {
	st := openStore(t)
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.Alerts.Webhook = &config.Webhook{URL: srv.URL}
	d := newDaemon(t, cfg, st)
	start := time.Now()
	ok := &mtls.Result{Check: "partner", Start: start, OK: true}
	bad := &mtls.Result{Check: "partner", Start: start.Add(time.Minute), Stage: "tls", Diagnosis: "the server did not trust our client certificate"}
	d.alertCheckTransition(ok, bad)
	d.alertCheckTransition(bad, &mtls.Result{Check: "partner", Start: start.Add(2 * time.Minute), OK: true})
	for _, want := range []string{"check_failed", "check_recovered"} {
		select {
		case a := <-got:
			if a["kind"] != want {
				t.Fatalf("alert kind %v, want %s: %v", a["kind"], want, a)
			}
			if want == "check_failed" && !strings.Contains(a["detail"].(string), "did not trust") {
				t.Fatalf("check_failed without the diagnosis: %v", a)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s alert", want)
		}
	}
}

// TestAlertKeysStable pins every rule's de-duplication key: the store's
// ledger remembers keys across restarts, upgrades and replicas, so a format
// that changed would resend (or suppress) alerts.
func TestAlertKeysStable(t *testing.T) {
	at := time.Date(2026, 3, 1, 7, 45, 0, 0, time.FixedZone("x", 3600))
	exp := func(crossedIn time.Duration, fp string) string {
		e := Expiry{Source: "mtls_server", Owner: "partner", Subject: "CN=api", Fingerprint: fp,
			NotAfter: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(crossedIn)}
		a, ok := expiryAlert(e, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), []time.Duration{720 * time.Hour, 168 * time.Hour})
		if !ok {
			t.Fatalf("no expiry alert %v before expiry", crossedIn)
		}
		return a.Key
	}
	boom := errors.New("boom")
	for _, tc := range []struct{ got, want string }{
		{alertKey("selftest_failed", hourOf(at)), "selftest_failed:2026030106"},
		{alertKey("snapshot_failed", "store", errDigest(boom), hourOf(at)), "snapshot_failed:store:" + errDigest(boom) + ":2026030106"},
		{alertKey("rotation_failed", "signing", errDigest(boom), hourOf(at)), "rotation_failed:signing:" + errDigest(boom) + ":2026030106"},
		{alertKey("check", "partner", at.UTC().Format(time.RFC3339Nano)), "check:partner:2026-03-01T06:45:00Z"},
		{exp(100*time.Hour, "ab12"), "expiry:ab12:168h0m0s"},
		{exp(-time.Hour, "ab12"), "expired:ab12"},
		{exp(-time.Hour, ""), "expired:mtls_server:partner:CN=api:2026-02-28T23:00:00Z"},
	} {
		if tc.got != tc.want {
			t.Errorf("key %q, want %q", tc.got, tc.want)
		}
	}
	if len(errDigest(boom)) != 16 {
		t.Errorf("errDigest %q: want 8 bytes of SHA-256 in hex", errDigest(boom))
	}
}

// TestExpiryScanOnStoreChange: a certificate added to the store that
// expires within a threshold alerts at the next store poll, not at the
// next hourly scan.
func TestExpiryScanOnStoreChange(t *testing.T) {
	st := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.Alerts = config.Alerts{
		Thresholds: []time.Duration{7 * 24 * time.Hour},
		Webhook:    &config.Webhook{URL: srv.URL, Timeout: 5 * time.Second},
	}
	d := newDaemon(t, cfg, st)
	done := make(chan struct{})
	go func() { defer close(done); d.expiryLoop(ctx) }()
	defer func() { cancel(); <-done }()
	select { // the start scan: the base keystores are years away from expiry
	case a := <-got:
		t.Fatalf("alert before any change: %v", a)
	case <-time.After(500 * time.Millisecond):
	}

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Soon root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * 24 * time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if _, err := st.AddRecord(ctx, "test", store.NewRecord{Name: "Soon root", Type: store.TypeTrustStoreCert,
		Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}); err != nil {
		t.Fatal(err)
	}
	d.pollOnce(ctx)
	select {
	case a := <-got:
		if subj, _ := a["subject"].(map[string]any); a["kind"] != "expiry" || subj["owner"] != "Soon root" {
			t.Fatalf("alert after the store change: %v, want Soon root expiring", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no expiry alert after a store change added a certificate expiring in 2 days")
	}
}

// TestCheckCauseChangeAlerts: a check failing in another stage than before
// (connect → tls) is a new check_failed naming both stages.
func TestCheckCauseChangeAlerts(t *testing.T) {
	st := openStore(t)
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.Alerts.Webhook = &config.Webhook{URL: srv.URL}
	d := newDaemon(t, cfg, st)
	start := time.Now()
	connect := &mtls.Result{Check: "partner", Start: start, Stage: mtls.StageConnect, Diagnosis: "connection refused"}
	tls := &mtls.Result{Check: "partner", Start: start.Add(time.Minute), Stage: mtls.StageTLS, Diagnosis: "the server did not trust our client certificate"}
	if !mtls.Transition(connect, tls) {
		t.Fatal("a changed failure cause is not a transition")
	}
	d.alertCheckTransition(connect, tls)
	select {
	case a := <-got:
		if a["kind"] != "check_failed" || !strings.Contains(a["summary"].(string), "tls stage (it failed in the connect stage before)") {
			t.Fatalf("alert: %v", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no check_failed for a changed cause")
	}
}
