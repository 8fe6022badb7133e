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
