package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// realStore opens a SQLite store in a temp dir on a clock the test moves.
func realStore(t *testing.T) (*store.Store, func() time.Time, func(time.Duration)) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC).Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0).UTC() }
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(),
		MasterKey: secret.FromString(strings.Repeat("ab", 32)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, now, func(d time.Duration) { clock.Add(int64(d / time.Second)) }
}

func manualConfig() *config.Config {
	return &config.Config{SP: config.SP{EntityID: "https://sp.example.com/saml/metadata"}}
}

func statusOf(t *testing.T, cfg *config.Config, st Reader, use keys.Use, now time.Time) UseStatus {
	t.Helper()
	s, err := ReadStatus(context.Background(), cfg, st, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range s.Uses {
		if u.Use == use {
			return u
		}
	}
	t.Fatalf("no %s status", use)
	return UseStatus{}
}

func keyStatus(u UseStatus, id string) KeyStatus {
	for _, k := range u.Keys {
		if k.RecordID == id {
			return k
		}
	}
	return KeyStatus{}
}

// TestManualRolloverWithoutPolicy: publish, a refused promotion naming the
// IdP behind, the IdP fetches, promote, and the retired key kept exactly
// DefaultRetireAfter — all without a rotation block.
func TestManualRolloverWithoutPolicy(t *testing.T) {
	ctx := context.Background()
	st, now, advance := realStore(t)
	cfg := manualConfig()
	o := ManualOptions{Actor: "alice", Now: now, Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 1<<20))}
	base := store.BaseSigningID
	if err := st.RecordMetadataFetch(ctx, "corp", now(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, cfg, st, keys.UseSigning, o); !errors.Is(err, ErrNoNext) {
		t.Fatalf("promote without a next key: %v", err)
	}
	rec, err := Publish(ctx, cfg, st, keys.UseSigning, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(ctx, cfg, st, keys.UseSigning, o); !errors.Is(err, store.ErrExists) {
		t.Fatalf("a second next key: %v", err)
	}
	advance(time.Hour)
	_, err = Promote(ctx, cfg, st, keys.UseSigning, o)
	var behind *BehindError
	if !errors.As(err, &behind) || len(behind.IdPs) != 1 || behind.IdPs[0].IdP != "corp" ||
		!strings.Contains(err.Error(), "corp (last fetch 2026-12-01T03:00:00Z)") {
		t.Fatalf("promote before the IdP fetched: %v", err)
	}
	if id, _, _ := st.Property(ctx, store.PropSigningKeystore); id != base {
		t.Fatal("a refused promotion moved the property")
	}
	if err := st.RecordMetadataFetch(ctx, "corp", now(), []string{rec.FingerprintSHA256}); err != nil {
		t.Fatal(err)
	}
	if id, err := Promote(ctx, cfg, st, keys.UseSigning, o); err != nil || id != rec.ID {
		t.Fatalf("promote after the fetch: %q %v", id, err)
	}
	u := statusOf(t, cfg, st, keys.UseSigning, now())
	old := keyStatus(u, base)
	if old.State != StateRetired || !old.Kept || !old.Listed || !old.KeptUntil.Equal(now().Add(DefaultRetireAfter)) {
		t.Fatalf("retired base key: %+v", old)
	}
	advance(DefaultRetireAfter)
	if old := keyStatus(statusOf(t, cfg, st, keys.UseSigning, now()), base); old.Kept || old.Listed {
		t.Fatalf("retired key still kept after retire_after: %+v", old)
	}
	audit, err := st.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	actors := 0
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "rotation.") && a.Actor == "alice" {
			actors++
		}
	}
	if actors != 2 {
		t.Fatalf("publish and promote audited as alice %d times, want 2", actors)
	}
}

func TestManualForceAndCancel(t *testing.T) {
	ctx := context.Background()
	st, now, _ := realStore(t)
	cfg := manualConfig()
	o := ManualOptions{Now: now}
	if err := st.RecordMetadataFetch(ctx, "corp", now(), nil); err != nil {
		t.Fatal(err)
	}
	gen, err := Publish(ctx, cfg, st, keys.UseSigning, o)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := Cancel(ctx, cfg, st, keys.UseSigning, o); err != nil || id != gen.ID {
		t.Fatalf("cancel: %q %v", id, err)
	}
	if r, _ := st.Record(ctx, gen.ID); r.Active {
		t.Fatal("a cancelled generated key's record is still active")
	}
	// The operator brings a record: the encryption base keystore's twin.
	brought := addBrought(t, st, "CA-signed 2027", "RSA", 2048)
	if _, err := Publish(ctx, cfg, st, keys.UseSigning, ManualOptions{Record: "CA-signed 2027", Now: now}); err != nil {
		t.Fatal(err)
	}
	if u := statusOf(t, cfg, st, keys.UseSigning, now()); !keyStatus(u, brought).Listed || !u.HasNext() {
		t.Fatalf("brought record not published as next: %+v", u)
	}
	if _, err := Cancel(ctx, cfg, st, keys.UseSigning, o); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Record(ctx, brought); !r.Active {
		t.Fatal("cancelling a brought record deactivated it")
	}
	if u := statusOf(t, cfg, st, keys.UseSigning, now()); u.HasNext() || keyStatus(u, brought).RecordID != "" {
		t.Fatal("a cancelled brought record is still in the rollover")
	}
	if _, err := Publish(ctx, cfg, st, keys.UseSigning, ManualOptions{Record: brought, Now: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, cfg, st, keys.UseSigning, o); err == nil {
		t.Fatal("promoted while the IdP is behind")
	}
	o.Force = true
	if id, err := Promote(ctx, cfg, st, keys.UseSigning, o); err != nil || id != brought {
		t.Fatalf("promote --force: %q %v", id, err)
	}
}

func TestPublishRefusesUnfitRecords(t *testing.T) {
	ctx := context.Background()
	st, now, _ := realStore(t)
	cfg := manualConfig()
	ec := addBrought(t, st, "EC key", "EC", 256)
	for _, c := range []struct {
		name   string
		use    keys.Use
		o      ManualOptions
		target error
	}{
		{"EC for encryption", keys.UseEncryption, ManualOptions{Record: ec}, ErrUnfit},
		{"the current key", keys.UseSigning, ManualOptions{Record: store.BaseSigningID}, store.ErrInvalid},
		{"unknown record", keys.UseSigning, ManualOptions{Record: "nobody"}, store.ErrNotFound},
		{"replace for signing", keys.UseSigning, ManualOptions{Replace: true}, store.ErrInvalid},
		{"expired certificate", keys.UseSigning, ManualOptions{Record: ec, Now: func() time.Time { return now().Add(800 * day) }}, ErrUnfit},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.o.Now == nil {
				c.o.Now = now
			}
			if _, err := Publish(ctx, cfg, st, c.use, c.o); !errors.Is(err, c.target) {
				t.Fatalf("err = %v, want %v", err, c.target)
			}
		})
	}
	if _, err := Publish(ctx, cfg, st, keys.UseSigning, ManualOptions{Record: ec, Now: now}); err != nil {
		t.Fatalf("an EC key signs: %v", err)
	}
}

// TestReplaceModeListsOnlyTheNewest: in replace mode metadata lists the
// next encryption key alone, then (promoted) the new active key alone,
// while every kept key still decrypts.
func TestReplaceModeListsOnlyTheNewest(t *testing.T) {
	ctx := context.Background()
	st, now, _ := realStore(t)
	cfg := manualConfig()
	cur, _, _ := st.Property(ctx, store.PropEncryptionKeystore)
	next, err := Publish(ctx, cfg, st, keys.UseEncryption, ManualOptions{Replace: true, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	serving := func() map[string]bool {
		rows, err := st.Rotations(ctx, "encryption")
		if err != nil {
			t.Fatal(err)
		}
		sel, _, _ := st.Property(ctx, store.PropEncryptionKeystore)
		out := map[string]bool{}
		for _, p := range Serving(rows, sel, now(), DefaultPolicy(), keys.UseEncryption) {
			out[p.ID] = p.Listed
		}
		return out
	}
	if s := serving(); len(s) != 2 || s[cur] || !s[next.ID] {
		t.Fatalf("after a replace publish: %v, want both kept, only %s listed", s, next.ID)
	}
	if u := statusOf(t, cfg, st, keys.UseEncryption, now()); keyStatus(u, cur).Listed || !keyStatus(u, cur).Kept {
		t.Fatalf("rotate status disagrees with Serving: %+v", u.Keys)
	}
	if _, err := Promote(ctx, cfg, st, keys.UseEncryption, ManualOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	if s := serving(); len(s) != 2 || s[cur] || !s[next.ID] {
		t.Fatalf("after promotion: %v, want the retired key decrypting unlisted", s)
	}
}

// TestRotateReconcilesAHandMovedProperty is issue 14's wedge: rotate --now,
// then the property set back to the old record by hand; every later run
// used to fail with "record R is not a retired key".
func TestRotateReconcilesAHandMovedProperty(t *testing.T) {
	ctx := context.Background()
	st, now, advance := realStore(t)
	cfg := manualConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{Validity: 365 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, Schedule: "@daily"}
	steps, err := Rotate(ctx, cfg, st, keys.UseSigning, Options{Force: true, Now: now})
	if err != nil || len(steps) != 2 {
		t.Fatalf("rotate --now: %v %v", steps, err)
	}
	if steps[0].Kind != StepGenerateNext || steps[0].KeyID == "" || steps[0].KeyID != steps[1].KeyID {
		t.Fatalf("generate_next does not name its key: %+v", steps)
	}
	rolled := steps[0].KeyID
	if err := st.SetProperty(ctx, "bob", store.PropSigningKeystore, store.BaseSigningID); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := Rotate(ctx, cfg, st, keys.UseSigning, Options{Now: now}); err != nil {
			t.Fatalf("run %d after the property moved back: %v", i, err)
		}
		advance(10 * day)
	}
	u := statusOf(t, cfg, st, keys.UseSigning, now())
	if k := keyStatus(u, store.BaseSigningID); k.State != StateActive || !k.Selected {
		t.Fatalf("the selected base key: %+v", k)
	}
	if k := keyStatus(u, rolled); k.State != StateInactive {
		t.Fatalf("the key moved away from, after retire_after: %+v", k)
	}
	audit, _ := st.Audit(ctx)
	reconciled := 0
	for _, a := range audit {
		if a.Action == store.ActionRotationReconcile {
			reconciled++
		}
	}
	if reconciled != 1 {
		t.Fatalf("%d reconcile audit entries, want 1", reconciled)
	}
}

// TestRotateLosesTheLock: two replicas race for a use's rollover; the one
// that loses the lock gets ErrLocked and changes nothing.
func TestRotateLosesTheLock(t *testing.T) {
	ctx := context.Background()
	st, now, _ := realStore(t)
	cfg := manualConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{Validity: 365 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, Schedule: "@daily"}
	ran, err := st.WithLock(ctx, LockName(keys.UseSigning), func(context.Context) error {
		steps, err := Rotate(ctx, cfg, st, keys.UseSigning, Options{Force: true, Now: now})
		if !errors.Is(err, ErrLocked) || len(steps) != 0 {
			t.Errorf("the other replica's run: %v %v, want ErrLocked", steps, err)
		}
		if _, err := Publish(ctx, cfg, st, keys.UseSigning, ManualOptions{Now: now}); !errors.Is(err, ErrLocked) {
			t.Errorf("publish while another replica rotates: %v", err)
		}
		return nil
	})
	if !ran || err != nil {
		t.Fatal(ran, err)
	}
	if rows, _ := st.Rotations(ctx, "signing"); len(rows) != 0 {
		t.Fatalf("the losing run changed the store: %+v", rows)
	}
}

// addBrought adds a self-signed keystore record the operator brings.
func addBrought(t *testing.T, st *store.Store, name, alg string, size int) string {
	t.Helper()
	g, err := keys.GenerateKeystore(keys.KeystoreOptions{GenerateOptions: keys.GenerateOptions{
		Alias: "brought", KeyAlg: alg, KeySize: size, ValidityDays: 730, DName: "CN=" + name,
		Now: func() time.Time { return time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC) }}, Format: keys.FormatPKCS12})
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.AddRecord(context.Background(), "t", store.NewRecord{Name: name, Type: store.TypePKCS12, Data: g.Data,
		Alias: "brought", StorePassword: g.StorePassword, KeyPassword: g.KeyPassword})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestHandMovedPropertyKeepsTheOldKey: until a rotation run reconciles the
// states, the key the property was moved away from by hand stays published
// and decrypting, in metadata's rule and in rotate status alike.
func TestHandMovedPropertyKeepsTheOldKey(t *testing.T) {
	ctx := context.Background()
	st, now, advance := realStore(t)
	cfg := manualConfig()
	rec, err := Publish(ctx, cfg, st, keys.UseEncryption, ManualOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Promote(ctx, cfg, st, keys.UseEncryption, ManualOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetProperty(ctx, "bob", store.PropEncryptionKeystore, store.BaseEncryptionID); err != nil {
		t.Fatal(err)
	}
	advance(30 * day)
	rows, _ := st.Rotations(ctx, "encryption")
	kept := false
	for _, p := range Serving(rows, store.BaseEncryptionID, now(), DefaultPolicy(), keys.UseEncryption) {
		kept = kept || (p.ID == rec.ID && p.Listed)
	}
	k := keyStatus(statusOf(t, cfg, st, keys.UseEncryption, now()), rec.ID)
	if !kept || !k.Kept || !k.Listed || !k.KeptUntil.IsZero() {
		t.Fatalf("the key moved away from by hand: serving %v, status %+v", kept, k)
	}
	// A manual step reconciles: its retire_after starts now.
	if _, err := Publish(ctx, cfg, st, keys.UseEncryption, ManualOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	k = keyStatus(statusOf(t, cfg, st, keys.UseEncryption, now()), rec.ID)
	if k.State != StateRetired || !k.KeptUntil.Equal(now().Add(DefaultRetireAfter)) {
		t.Fatalf("after reconciling: %+v", k)
	}
}
