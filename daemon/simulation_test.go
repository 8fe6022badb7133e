package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// TestTwoYearsOfRotation runs the daemon for two simulated years, a day at
// a time, with 90-day signing and encryption keys rotated by their
// policies and an IdP that fetches metadata every third day. Every day:
// metadata publishes exactly the keys the state machine says, current
// first; requests are signed by a certificate published at least
// publish_for earlier; every encryption certificate that was the current
// one within retire_after still has its key in the decryption set; and,
// over the two years, every expiry alert is sent once.
func TestTwoYearsOfRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("two simulated years")
	}
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0).UTC() }
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), MasterKey: secret.FromString(strings.Repeat("ef", 32)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var mu sync.Mutex
	alerts := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ Key, Kind string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &a)
		mu.Lock()
		alerts[a.Key]++
		mu.Unlock()
	}))
	defer hook.Close()

	policy := &config.RotationPolicy{Validity: 90 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	cfg := testConfig()
	cfg.Rotation = config.Rotation{Signing: policy, Encryption: policy}
	cfg.IdPs[0].MetadataUserAgent = "CorpIdP"
	cfg.IdPs[0].MetadataUserAgentTrusted = true // recognised by User-Agent alone, as the operator allowed
	cfg.Alerts = config.Alerts{Thresholds: []time.Duration{60 * day, 30 * day, 14 * day, 7 * day, 3 * day, day},
		Webhook: &config.Webhook{URL: hook.URL}}
	d, err := New(ctx, Options{Config: cfg, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	h := d.Handler()
	p, _ := lifecycle.PolicyFrom(policy)

	// Start from 90-day keys instead of the two-year base keystores.
	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		if _, err := d.rotate(ctx, use, true); err != nil {
			t.Fatal(err)
		}
	}

	firstSeen := map[string]time.Time{}   // fingerprint -> first day in metadata
	lastCurrent := map[string]time.Time{} // encryption fingerprint -> last day it was the current (first) key
	promotions := 0
	for day0 := 0; day0 < 730; day0++ {
		clock.Add(int64(day / time.Second))
		today := now()
		for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
			steps, err := d.rotate(ctx, use, false)
			if err != nil {
				t.Fatalf("day %d: rotate %s: %v", day0, use, err)
			}
			for _, s := range steps {
				if s.Kind == lifecycle.StepPromote {
					promotions++
				}
			}
		}
		ua := "curl/8"
		if day0%3 == 0 {
			ua = "CorpIdP/1.0"
		}
		w := get(t, h, "/saml/metadata", "User-Agent", ua)
		if w.Code != http.StatusOK {
			t.Fatalf("day %d: metadata %d", day0, w.Code)
		}
		signing, encryption := metadataCerts(t, w.Body.Bytes())

		// Exactly the keys the state machine says, current first.
		for use, published := range map[keys.Use][][]byte{keys.UseSigning: signing, keys.UseEncryption: encryption} {
			view, err := lifecycle.Keys(ctx, st, use)
			if err != nil {
				t.Fatal(err)
			}
			want := lifecycle.Published(view, today, p)
			if len(want) != len(published) {
				t.Fatalf("day %d: %s: metadata publishes %d keys, the state machine %d", day0, use, len(published), len(want))
			}
			for i, k := range want {
				rec, err := st.Record(ctx, k.ID)
				if err != nil {
					t.Fatal(err)
				}
				c, err := rec.Credential(use)
				if err != nil {
					t.Fatal(err)
				}
				if string(c.Leaf().Raw) != string(published[i]) {
					t.Fatalf("day %d: %s key %d in metadata is not %s (%s)", day0, use, i, k.ID, k.State)
				}
			}
			for _, der := range published {
				if _, ok := firstSeen[string(der)]; !ok {
					firstSeen[string(der)] = today
				}
			}
			if use == keys.UseEncryption {
				lastCurrent[string(published[0])] = today
			}
		}

		// Signed by a certificate published at least publish_for earlier
		// (the very first forced key excepted).
		snap := d.Snapshot()
		cur := snap.Keys.Current(keys.UseSigning)
		msg, err := snap.SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyRedirectSignature(msg.URL, cur.Leaf()); err != nil {
			t.Fatalf("day %d: %v", day0, err)
		}
		if promotions > 2 && today.Sub(firstSeen[string(cur.Leaf().Raw)]) < p.PublishFor {
			t.Fatalf("day %d: signing with a certificate published only %s ago", day0, today.Sub(firstSeen[string(cur.Leaf().Raw)]))
		}

		// Every encryption certificate that was the current one (the one
		// IdPs encrypt to) within retire_after still decrypts.
		decrypts := map[string]bool{}
		for _, c := range snap.Keys.Encryption {
			decrypts[string(c.Leaf().Raw)] = true
		}
		for fp, last := range lastCurrent {
			if today.Sub(last) < p.RetireAfter && !decrypts[fp] {
				t.Fatalf("day %d: an encryption certificate current %s ago no longer decrypts", day0, today.Sub(last))
			}
		}
		if err := selfTest(snap.Keys); err != nil {
			t.Fatalf("day %d: %v", day0, err)
		}
		d.scanExpiry(ctx)
	}
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d.alerts.Close(closeCtx)
	if promotions < 16 {
		t.Fatalf("%d promotions in two years of 90-day signing and encryption keys", promotions)
	}
	mu.Lock()
	defer mu.Unlock()
	expiry := 0
	for key, n := range alerts {
		if n != 1 {
			t.Errorf("alert %s sent %d times", key, n)
		}
		if strings.HasPrefix(key, "expired:") {
			t.Errorf("a certificate expired during the simulation: %s", key)
		}
		if strings.HasPrefix(key, "expiry:") {
			expiry++
		}
	}
	if expiry < promotions {
		t.Fatalf("only %d expiry alerts for %d rotated keys", expiry, promotions)
	}
	t.Logf("730 days: %d promotions, %d expiry alerts, each sent once", promotions, expiry)
}
