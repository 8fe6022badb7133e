package daemon

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// TestOneSnapshotPerRequest swaps in another snapshot right after the
// middleware loaded one: every answer must still come from the first
// (auth, handler, metadata and fetch accounting), which only holds when a
// request loads exactly one snapshot.
func TestOneSnapshotPerRequest(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	d := newDaemon(t, testConfig(), st)
	a := d.Snapshot()

	cfgB := testConfig()
	cfgB.SP.EntityID = "https://other.example.com/saml/metadata"
	cfgB.IdPs[0].SSO.Location = "https://other-idp.example.com/sso"
	cfgB.API.Tokens = []config.Token{{Name: "other", SHA256: HashToken("other-token"), Scopes: []string{ScopeSign, ScopeAdmin}}}
	b, err := Build(ctx, cfgB, st, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	loads := 0
	d.loaded = func(s *Snapshot) {
		loads++
		if s != a {
			t.Errorf("request loaded %p, want the serving snapshot %p", s, a)
		}
		d.snap.Store(b) // a reload lands mid-request
	}
	h := d.Handler()
	for _, tc := range []struct {
		name string
		do   func() (int, string)
		want string
	}{
		{"sign API", func() (int, string) {
			w := postJSON(t, h, "/api/v1/authn-requests", testToken, `{"idp":"corp","binding":"redirect"}`)
			return w.Code, w.Body.String()
		}, `"https://idp.example.com/sso?`},
		{"metadata", func() (int, string) {
			w := get(t, h, "/saml/metadata")
			return w.Code, w.Body.String()
		}, `entityID="https://sp.example.com/saml/metadata"`},
		{"certificate index", func() (int, string) {
			w := get(t, h, "/saml/certs")
			return w.Code, w.Body.String()
		}, keys.FingerprintSHA256(a.Keys.Signing[0].Leaf())},
		{"readiness", func() (int, string) {
			w := get(t, h, "/readyz")
			return w.Code, w.Body.String()
		}, "ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d.snap.Store(a)
			loads = 0
			code, body := tc.do()
			if code != http.StatusOK || !strings.Contains(body, tc.want) {
				t.Fatalf("status %d body %.300s, want 200 from the first snapshot (%s)", code, body, tc.want)
			}
			if loads != 1 {
				t.Errorf("request loaded %d snapshots, want 1", loads)
			}
		})
	}
}

// TestReloadRebuildsAlertSinks changes the webhook URL in the config: after
// the reload the new webhook receives alerts and the old one nothing; a
// sink that cannot be built rejects the config and keeps the sinks serving.
func TestReloadRebuildsAlertSinks(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	oldHook, oldGot := webhookReceiver(t, nil)
	newHook, newGot := webhookReceiver(t, nil)
	withHook := func(url, secretFile string) *config.Config {
		cfg := testConfig()
		cfg.Alerts.Webhook = &config.Webhook{URL: url, HMACSecretFile: secretFile, Timeout: 5 * time.Second}
		return cfg
	}
	d := newDaemon(t, withHook(oldHook.URL, ""), st)
	cfgB := withHook(newHook.URL, "")
	if err := d.Rebuild(ctx, "config file", cfgB); err != nil {
		t.Fatal(err)
	}

	// Sinks that do not build fail the alerts component only: the config
	// is served, the sinks still serving stay, and they carry the alert.
	missing := withHook(oldHook.URL, t.TempDir()+"/missing.key")
	if err := d.Rebuild(ctx, "config file", missing); err != nil {
		t.Fatalf("reload with an unreadable webhook secret: %v", err)
	}
	if d.Snapshot().Config != missing {
		t.Fatal("a config whose sinks did not build was not served")
	}
	if f := d.Snapshot().Failed(); len(f) != 1 || f[0].Kind != KindAlerts || !strings.Contains(f[0].Error, "alerts.webhook.hmac_secret_file") {
		t.Fatalf("failed components = %+v, want the alert sinks naming alerts.webhook.hmac_secret_file", f)
	}
	select {
	case a := <-newGot: // the failed component's alert, sent by the sinks still serving
		if a["kind"] != "component_failed" {
			t.Fatalf("new webhook got %v, want the component_failed alert", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the new webhook received no alert after the reload")
	}
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d.alerts.Close(closeCtx)
	select {
	case a := <-oldGot:
		t.Fatalf("the old webhook still received %v after the reload", a)
	default:
	}
}

// TestReloadRearmsRotationSchedule changes the rotation schedule in the
// config: the reload re-arms the cron entry; removing the policy disarms it.
func TestReloadRearmsRotationSchedule(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	const day = 24 * time.Hour
	withSchedule := func(spec string) *config.Config {
		cfg := testConfig()
		cfg.Rotation.Signing = &config.RotationPolicy{Validity: 90 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
			RetireAfter: 14 * day, Schedule: spec}
		sched, err := config.ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Rotation.Signing.ParsedSchedule = sched
		return cfg
	}
	from := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	d := newDaemon(t, withSchedule("@daily"), st)
	armedNext := func() (time.Time, bool) {
		e, ok := d.rotations.armed()[keys.UseSigning]
		if !ok {
			return time.Time{}, false
		}
		return e.Schedule.Next(from), true
	}
	if got, ok := armedNext(); !ok || !got.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("@daily armed next %v (%v)", got, ok)
	}
	if err := d.Rebuild(ctx, "config file", withSchedule("0 6 * * *")); err != nil {
		t.Fatal(err)
	}
	if got, ok := armedNext(); !ok || !got.Equal(time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("after reload to 0 6 * * *: armed next %v (%v)", got, ok)
	}
	// A store-triggered rebuild keeps the entry; a config without the
	// policy removes it.
	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	if got, ok := armedNext(); !ok || got.Hour() != 6 {
		t.Fatalf("after a store rebuild: armed next %v (%v)", got, ok)
	}
	if err := d.Rebuild(ctx, "config file", testConfig()); err != nil {
		t.Fatal(err)
	}
	if _, ok := armedNext(); ok {
		t.Fatal("rotation still scheduled after its policy was removed from the config")
	}
}
