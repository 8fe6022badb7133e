package lifecycle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

func TestCaughtUp(t *testing.T) {
	pub := t0
	fetch := func(idp string, at time.Duration, fps ...string) store.MetadataFetch {
		return store.MetadataFetch{IdP: idp, At: pub.Add(at), Fingerprints: fps}
	}
	for _, tc := range []struct {
		name    string
		fetches []store.MetadataFetch
		ok      bool
		behind  string
	}{
		{"nobody ever fetched: nobody to wait for", nil, true, ""},
		{"fetched after publication and served the next key", []store.MetadataFetch{fetch("a", time.Hour, "cc", "nn")}, true, ""},
		{"fetched at the publication instant", []store.MetadataFetch{fetch("a", 0, "nn")}, true, ""},
		{"fetched before publication", []store.MetadataFetch{fetch("b", -time.Hour, "cc", "nn")}, false, "b"},
		{"fetched after but not served the next key", []store.MetadataFetch{fetch("c", time.Hour, "cc")}, false, "c"},
		{"some behind", []store.MetadataFetch{fetch("a", time.Hour, "cc", "nn"), fetch("b", -time.Hour, "cc"), fetch("c", time.Hour, "cc")}, false, "b,c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, behind := CaughtUp(tc.fetches, "nn", pub)
			if ok != tc.ok || strings.Join(behind, ",") != tc.behind {
				t.Fatalf("CaughtUp = %v %v, want %v %q", ok, behind, tc.ok, tc.behind)
			}
		})
	}
}

// TestKeysView: the record the property selects is the active key, with or
// without a rotation row; a row still marked active that the property no
// longer selects (moved by hand) is retired.
func TestKeysView(t *testing.T) {
	r := newRig(t)
	for _, id := range []string{"a", "n"} {
		data, pw := ecKeystore(t, id, t0, 90)
		r.st.addKeystore(t, id, id, data, pw)
	}
	r.st.rots = []store.Rotation{
		{RecordID: "a", Use: "signing", State: store.RotationActive, PublishedAt: t0, PromotedAt: t0},
		{RecordID: "n", Use: "signing", State: store.RotationNext, PublishedAt: t0.Add(day)},
	}
	ks, err := Keys(context.Background(), r.st, keys.UseSigning) // the property still selects "base"
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range ks {
		got = append(got, k.ID+":"+string(k.State))
	}
	if strings.Join(got, " ") != "a:retired n:next base:active" {
		t.Fatalf("Keys = %v", got)
	}
	if ks[2].NotAfter != r.base.NotAfter || ks[1].PublishedAt != t0.Add(day) {
		t.Fatalf("Keys lost the dates: %+v", ks)
	}
	r.st.props[store.PropSigningKeystore] = "a"
	if ks, _ := Keys(context.Background(), r.st, keys.UseSigning); len(ks) != 2 || ks[0].State != StateActive {
		t.Fatalf("with the property on a: %+v", ks)
	}
}

// TestReadStatus: each use's keys as stored, when the next key is due and
// when it will be promoted, and which IdPs have fetched it.
func TestReadStatus(t *testing.T) {
	r := newRig(t)
	r.st.fetches = []store.MetadataFetch{{IdP: "corp", At: t0}, {IdP: "partner", At: t0}}
	ctx := context.Background()

	s, err := ReadStatus(ctx, r.cfg, r.st, r.clock)
	if err != nil {
		t.Fatal(err)
	}
	sig, enc := s.Uses[0], s.Uses[1]
	if sig.Use != keys.UseSigning || !sig.Configured || len(sig.Keys) != 1 || !sig.Keys[0].Selected || sig.Keys[0].State != StateActive {
		t.Fatalf("signing before rotation: %+v", sig)
	}
	if !sig.NextPublish.Equal(r.base.NotAfter.Add(-30*day)) || !sig.NextPromotion.IsZero() || sig.HasNext() {
		t.Fatalf("signing: next publish %s, next promotion %s", sig.NextPublish, sig.NextPromotion)
	}
	if enc.Use != keys.UseEncryption || enc.Configured || len(enc.Keys) != 0 || !enc.NextPublish.IsZero() || len(enc.IdPs) != 2 {
		t.Fatalf("encryption (not configured, no property): %+v", enc)
	}

	r.clock = t0.Add(30 * day)
	r.want(t, Options{}, StepGenerateNext)
	next := r.next()
	r.st.fetches[0] = store.MetadataFetch{IdP: "corp", At: r.clock.Add(time.Hour), Fingerprints: []string{next.FingerprintSHA256}}
	if s, err = ReadStatus(ctx, r.cfg, r.st, r.clock); err != nil {
		t.Fatal(err)
	}
	sig = s.Uses[0]
	if !sig.HasNext() || !sig.NextPublish.IsZero() || !sig.NextPromotion.Equal(r.clock.Add(14*day)) {
		t.Fatalf("partner behind: next publish %s, promotion %s, want %s", sig.NextPublish, sig.NextPromotion, r.clock.Add(14*day))
	}
	if len(sig.IdPs) != 2 || !sig.IdPs[0].FetchedNext || sig.IdPs[1].FetchedNext || sig.IdPs[1].LastFetch != t0 {
		t.Fatalf("IdP table: %+v", sig.IdPs)
	}
	if s.Uses[1].IdPs[0].FetchedNext {
		t.Fatal("an IdP fetched the next key of a use that has none")
	}
	r.st.fetches = r.st.fetches[:1] // the partner is gone: everyone has caught up
	if s, _ = ReadStatus(ctx, r.cfg, r.st, r.clock); !s.Uses[0].NextPromotion.Equal(r.clock.Add(7 * day)) {
		t.Fatalf("caught up: promotion %s, want %s", s.Uses[0].NextPromotion, r.clock.Add(7*day))
	}

	r.cfg.Rotation.Signing.RotateBefore = 10 * day
	if s, err = ReadStatus(ctx, r.cfg, r.st, r.clock); err != nil || !strings.Contains(s.Uses[0].Problem, "rotation.signing") || !s.Uses[0].NextPromotion.IsZero() {
		t.Fatalf("an unusable policy: %v %+v", err, s.Uses[0])
	}
	b, _ := json.Marshal(s)
	if strings.Contains(string(b), "Data") || strings.Contains(string(b), "password") {
		t.Fatalf("status JSON carries keystore material: %s", b)
	}
}
