package lifecycle

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

const day = 24 * time.Hour

var (
	t0     = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	policy = Policy{KeyAlg: "RSA", KeySize: 2048, Validity: 90 * day, RotateBefore: 30 * day, PublishFor: 7 * day, RetireAfter: 14 * day, MaxWait: 7 * day}
)

func TestDue(t *testing.T) {
	active := Key{ID: "a", State: StateActive, NotAfter: t0.Add(60 * day)}
	next := Key{ID: "n", State: StateNext, NotAfter: t0.Add(150 * day), PublishedAt: t0.Add(30 * day)}
	retired := Key{ID: "r", State: StateRetired, NotAfter: t0.Add(20 * day), RetiredAt: t0.Add(-10 * day)}
	for _, tc := range []struct {
		name    string
		keys    []Key
		now     time.Time
		caught  bool
		want    StepKind
		wantKey string
	}{
		{"nothing at all", nil, t0, false, StepGenerateNext, ""},
		{"next but no active", []Key{next}, t0, false, StepPromote, "n"},
		{"active far from expiry", []Key{active}, t0.Add(29*day + 23*time.Hour), false, StepNone, ""},
		{"active exactly at rotate_before", []Key{active}, t0.Add(30 * day), false, StepGenerateNext, ""},
		{"next published just under publish_for", []Key{active, next}, t0.Add(37*day - time.Second), true, StepNone, ""},
		{"next published publish_for, IdPs caught up", []Key{active, next}, t0.Add(37 * day), true, StepPromote, "n"},
		{"next published publish_for, IdPs behind", []Key{active, next}, t0.Add(37 * day), false, StepNone, ""},
		{"IdPs behind just under max_wait", []Key{active, next}, t0.Add(44*day - time.Second), false, StepNone, ""},
		{"IdPs behind at publish_for+max_wait", []Key{active, next}, t0.Add(44 * day), false, StepPromote, "n"},
		{"retired just under retire_after", []Key{active, retired}, t0.Add(4*day - time.Second), false, StepNone, ""},
		{"retired at retire_after", []Key{active, retired}, t0.Add(4 * day), false, StepDeactivate, "r"},
		{"generate before deactivate", []Key{active, retired}, t0.Add(40 * day), false, StepGenerateNext, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Due(tc.keys, tc.now, policy, tc.caught)
			if got.Kind != tc.want || got.KeyID != tc.wantKey {
				t.Fatalf("Due = %+v, want %s %q", got, tc.want, tc.wantKey)
			}
			if got.Kind != StepNone && got.Reason == "" {
				t.Error("a step without a reason")
			}
		})
	}
}

func TestPublished(t *testing.T) {
	keys := []Key{
		{ID: "old", State: StateRetired, RetiredAt: t0.Add(-20 * day)},
		{ID: "r1", State: StateRetired, RetiredAt: t0.Add(-5 * day)},
		{ID: "n", State: StateNext},
		{ID: "r2", State: StateRetired, RetiredAt: t0.Add(-1 * day)},
		{ID: "a", State: StateActive},
		{ID: "gone", State: StateInactive},
	}
	var ids []string
	for _, k := range Published(keys, t0, policy) {
		ids = append(ids, k.ID)
	}
	if got := strings.Join(ids, ","); got != "a,n,r2,r1" {
		t.Fatalf("Published = %s, want a,n,r2,r1", got)
	}
}

func TestThreshold(t *testing.T) {
	th := []time.Duration{60 * day, 30 * day, 7 * day, 1 * day}
	notAfter := t0.Add(100 * day)
	for _, tc := range []struct {
		before  time.Duration
		crossed time.Duration
		expired bool
		ok      bool
	}{
		{61 * day, 0, false, false},
		{60 * day, 60 * day, false, true},
		{45 * day, 60 * day, false, true},
		{30 * day, 30 * day, false, true},
		{time.Hour, 1 * day, false, true},
		{0, 0, true, true},
		{-day, 0, true, true},
	} {
		crossed, expired, ok := Thresholds(notAfter, notAfter.Add(-tc.before), th)
		if crossed != tc.crossed || expired != tc.expired || ok != tc.ok {
			t.Errorf("%s before expiry: Threshold = %s %v %v, want %s %v %v", tc.before, crossed, expired, ok, tc.crossed, tc.expired, tc.ok)
		}
	}
	if AlertKey("ab", 30*day, false) == AlertKey("ab", 60*day, false) || AlertKey("ab", 0, true) != "expired:ab" {
		t.Error("alert keys do not tell thresholds apart")
	}
}

func TestPolicyFrom(t *testing.T) {
	good := &config.RotationPolicy{RotateBefore: 30 * day, PublishFor: 7 * day, RetireAfter: 14 * day, Schedule: "@daily"}
	p, err := PolicyFrom(good)
	if err != nil || p.KeyAlg != "RSA" || p.KeySize != 2048 || p.Validity != DefaultValidity || p.MaxWait != 7*day {
		t.Fatalf("PolicyFrom(defaults) = %+v, %v", p, err)
	}
	for name, c := range map[string]config.RotationPolicy{
		"publish and wait reach rotate_before": {RotateBefore: 10 * day, PublishFor: 7 * day, RetireAfter: day},
		"rotate_before beyond validity":        {Validity: 20 * day, RotateBefore: 30 * day, PublishFor: day, RetireAfter: day},
		"unknown algorithm":                    {KeyAlg: "dsa", RotateBefore: 30 * day, PublishFor: day, RetireAfter: day},
		"zero publish_for":                     {RotateBefore: 30 * day, RetireAfter: day},
	} {
		if _, err := PolicyFrom(&c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTwoYears runs a rollover for two years on a 90-day validity, an hour
// at a time, applying each step as the daemon would, with IdPs that fetch
// metadata again only every third day. At every hour: exactly one active
// key that has not expired; a key is active only after being published for
// PublishFor; metadata publishes the active key first; a retired key is
// published until RetireAfter; each expiry threshold fires once per key.
func TestTwoYears(t *testing.T) {
	thresholds := []time.Duration{60 * day, 30 * day, 14 * day, 7 * day, 3 * day, day}
	var keys []Key
	n := 0
	// entered counts how often each certificate's tightest crossed
	// threshold turns into a given alert key: the ledger sends on the
	// first claim, so each key must be entered once, never re-entered.
	entered := map[string]int{}
	current := map[string]string{}
	promotions := 0
	end := t0.Add(2 * 365 * day)
	for now := t0; now.Before(end); now = now.Add(time.Hour) {
		caught := now.Sub(t0)/(24*time.Hour)%3 == 0
		for step := Due(keys, now, policy, caught); step.Kind != StepNone; step = Due(keys, now, policy, caught) {
			switch step.Kind {
			case StepGenerateNext:
				n++
				keys = append(keys, Key{ID: fmt.Sprintf("k%d", n), State: StateNext, NotAfter: now.Add(policy.Validity), PublishedAt: now})
			case StepPromote:
				for i := range keys {
					switch {
					case keys[i].State == StateActive:
						keys[i].State, keys[i].RetiredAt = StateRetired, now
					case keys[i].ID == step.KeyID:
						if n > 1 && now.Sub(keys[i].PublishedAt) < policy.PublishFor {
							t.Fatalf("%s: %s promoted after being published only %s", now, step.KeyID, now.Sub(keys[i].PublishedAt))
						}
						keys[i].State, keys[i].PromotedAt = StateActive, now
					}
				}
				promotions++
			case StepDeactivate:
				for i := range keys {
					if keys[i].ID == step.KeyID {
						keys[i].State = StateInactive
					}
				}
			}
		}
		var active []Key
		for _, k := range keys {
			if k.State == StateActive {
				active = append(active, k)
			}
			if k.State == StateRetired && now.Sub(k.RetiredAt) >= policy.RetireAfter {
				t.Fatalf("%s: %s still retired %s after retirement", now, k.ID, now.Sub(k.RetiredAt))
			}
		}
		if len(active) != 1 || !now.Before(active[0].NotAfter) {
			t.Fatalf("%s: active keys %+v", now, active)
		}
		pub := Published(keys, now, policy)
		if pub[0].ID != active[0].ID {
			t.Fatalf("%s: metadata publishes %s first, not the active %s", now, pub[0].ID, active[0].ID)
		}
		for _, k := range keys {
			if k.State == StateRetired {
				found := false
				for _, p := range pub {
					found = found || p.ID == k.ID
				}
				if !found {
					t.Fatalf("%s: retired %s inside retire_after is not published", now, k.ID)
				}
			}
			if k.State == StateInactive {
				continue
			}
			if crossed, expired, ok := Thresholds(k.NotAfter, now, thresholds); ok {
				if key := AlertKey(k.ID, crossed, expired); current[k.ID] != key {
					current[k.ID] = key
					entered[key]++
				}
			}
		}
	}
	if promotions < 9 {
		t.Fatalf("only %d promotions in two years of 90-day keys", promotions)
	}
	for key, c := range entered {
		if c != 1 {
			t.Errorf("alert %s entered %d times", key, c)
		}
		if strings.HasPrefix(key, "expired:") {
			t.Errorf("a key expired while in use: %s", key)
		}
	}
	// Keys are rotated 30 days before expiry: every key reached the 60-day
	// and 30-day thresholds, and none reached 14 days while still active
	// or next (a retired key reaches it within retire_after, 14 days).
	for i := 1; i < n; i++ {
		for _, th := range []time.Duration{60 * day, 30 * day} {
			if entered[AlertKey(fmt.Sprintf("k%d", i), th, false)] != 1 {
				t.Errorf("k%d: %s threshold alert missing", i, th)
			}
		}
	}
	t.Logf("%d keys, %d promotions, %d threshold alerts in two years", n, promotions, len(entered))
}
