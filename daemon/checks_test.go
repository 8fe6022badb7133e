package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/store"
)

// mtlsServer is a loopback HTTPS server that requires a client certificate
// issued by (or equal to) trusted.
func mtlsServer(t *testing.T, trusted *x509.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("healthy\n"))
	}))
	pool := x509.NewCertPool()
	pool.AddCert(trusted)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestCheckUsesKeystoreRecordAndFollowsProfileChange(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	rotated := addKeystore(t, st, "Partner mTLS 2027", "RSA", 2048)
	srv := mtlsServer(t, certOf(t, st, rotated))
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if _, err := st.AddRecord(ctx, "test", store.NewRecord{Name: "Partner server", Type: store.TypeTrustStoreCert, Data: serverPEM}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)

	cfg := testConfig()
	cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: baseSigningID, DefaultPort: 443, TrustStore: []string{"Partner server"}}}
	cfg.Checks = []config.Check{{Name: "partner", URL: "mhttps://" + u.Host + "/health", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: 5 * time.Second}}
	d := newDaemon(t, cfg, st)
	h := d.Handler()

	run := func() map[string]any {
		t.Helper()
		w := postJSON(t, h, "/api/v1/checks/partner/run", adminToken, "")
		if w.Code != http.StatusOK {
			t.Fatalf("run check: %d %s", w.Code, w.Body)
		}
		var res map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	// The profile's keystore is not the one the partner trusts.
	res := run()
	if res["ok"] != false || res["client_cert_requested"] != true || res["diagnosis"] == "" {
		t.Fatalf("check with an untrusted client certificate: %v", res)
	}

	// Point the profile at the rotated keystore: the next run uses it,
	// without a restart.
	cfg2 := testConfig()
	cfg2.Profiles = []config.Profile{{Name: "mhttps", Keystore: "Partner mTLS 2027", DefaultPort: 443, TrustStore: []string{"Partner server"}}}
	cfg2.Checks = cfg.Checks
	d.applyConfig(ctx, "test", cfg2)
	if res := run(); res["ok"] != true {
		t.Fatalf("check after the profile moved to the trusted keystore: %v", res)
	}

	history, err := st.CheckResults(ctx, "partner", 10)
	if err != nil || len(history) != 2 || !history[0].OK || history[1].OK {
		t.Fatalf("stored history: %v %+v", err, history)
	}

	w := get(t, h, "/api/v1/checks", "Authorization", "Bearer "+adminToken)
	var list struct {
		Checks []struct{ Name, Schedule string } `json:"checks"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || len(list.Checks) != 1 || list.Checks[0].Name != "partner" {
		t.Fatalf("GET /api/v1/checks: %d %s", w.Code, w.Body)
	}
	if w := postJSON(t, h, "/api/v1/checks/nobody/run", adminToken, ""); w.Code != http.StatusNotFound {
		t.Fatalf("unknown check: %d", w.Code)
	}
	if w := postJSON(t, h, "/api/v1/checks/partner/run", testToken, ""); w.Code != http.StatusForbidden {
		t.Fatalf("sign-scope token ran a check: %d", w.Code)
	}
}

func TestCheckConfigErrorsFailTheirComponent(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		prof config.Profile
		want string
	}{
		{"unknown keystore", config.Profile{Name: "mhttps", Keystore: "nope", DefaultPort: 443},
			`protocol profile "mhttps": keystore: no certificate record has id or name "nope"`},
		{"trust store is a keystore", config.Profile{Name: "mhttps", Keystore: baseSigningID, DefaultPort: 443, TrustStore: []string{baseSigningID}},
			`trust_store: certificate record ` + baseSigningID + ` ("SAML 2.0 Keystore_Key2048_SHA256") is a java_key_store, not a trust_store_cert`},
		{"trust store record missing", config.Profile{Name: "mhttps", Keystore: baseSigningID, DefaultPort: 443, TrustStore: []string{"Nobody"}},
			`trust_store: no certificate record has id or name "Nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Profiles = []config.Profile{tc.prof}
			cfg.Checks = []config.Check{{Name: "c", URL: "mhttps://127.0.0.1/", Schedule: "@every 1h", Timeout: time.Second}}
			// A broken profile fails its component and its checks, not the build.
			snap, err := Build(ctx, cfg, st, BuildOptions{})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(snap.Checks) != 0 {
				t.Errorf("%d checks built on a broken profile", len(snap.Checks))
			}
			failed := snap.Failed()
			if len(failed) != 2 || failed[0].Kind != KindProfile || failed[1].Kind != KindCheck {
				t.Fatalf("failed components = %+v, want the profile and its check", failed)
			}
			for _, f := range failed {
				if !strings.Contains(f.Error, tc.want) || !strings.Contains(f.Error, "profiles[0]") {
					t.Errorf("%s %q error = %q, want it to name profiles[0] and contain %q", f.Kind, f.Name, f.Error, tc.want)
				}
			}
		})
	}
}
