package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

func TestRotationSteps(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		s := open(t, o) // with the base keystores: the signing property points at BaseSigningID
		next := func(name string) NewRecord {
			return NewRecord{Name: name, Type: TypePKCS12, Data: readFixture(t, "sp.p12"), StorePassword: secret.FromString(sentinelStorePass)}
		}
		rec, err := s.PublishNext(ctx, "rotation", "signing", next("signing 2027"), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PublishNext(ctx, "rotation", "signing", next("signing 2027b"), ""); !errors.Is(err, ErrExists) {
			t.Fatalf("a second next key: %v", err)
		}
		if v, _, _ := s.Property(ctx, PropSigningKeystore); v != BaseSigningID {
			t.Fatalf("publishing moved the property to %q", v)
		}
		if err := s.Promote(ctx, "rotation", "signing", BaseSigningID); !errors.Is(err, ErrInvalid) {
			t.Fatalf("promoting a key that is not next: %v", err)
		}
		if err := s.Promote(ctx, "rotation", "signing", rec.ID); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := s.Property(ctx, PropSigningKeystore); v != rec.ID {
			t.Fatalf("signing property = %q after promotion, want %s", v, rec.ID)
		}
		if v, _, _ := s.Property(ctx, PropEncryptionKeystore); v != BaseEncryptionID {
			t.Fatalf("promotion touched the encryption property: %q", v)
		}
		rots, err := s.Rotations(ctx, "signing")
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, r := range rots {
			states[r.RecordID] = r.State
		}
		if states[rec.ID] != RotationActive || states[BaseSigningID] != RotationRetired || len(states) != 2 {
			t.Fatalf("rotation states after promotion: %v", states)
		}
		if err := s.Deactivate(ctx, "rotation", rec.ID); !errors.Is(err, ErrInvalid) {
			t.Fatalf("deactivating the active key: %v", err)
		}
		if err := s.Deactivate(ctx, "rotation", BaseSigningID); err != nil {
			t.Fatal(err)
		}
		old, err := s.Record(ctx, BaseSigningID)
		if err != nil || old.Active {
			t.Fatalf("retired base keystore after deactivation: active %v, %v", old.Active, err)
		}
		audit, _ := s.Audit(ctx)
		var actions []string
		for _, a := range audit {
			if a.Actor == "rotation" {
				actions = append(actions, a.Action)
			}
		}
		if len(actions) != 3 {
			t.Fatalf("rotation audit entries: %v", actions)
		}
	})
}

func TestMetadataFetches(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		at := s.now().UTC().Truncate(time.Second)
		if err := s.RecordMetadataFetch(ctx, "corp", at, []string{"aa", "bb"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordMetadataFetch(ctx, "corp", at.Add(time.Hour), []string{"cc"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordMetadataFetch(ctx, "partner", at, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.MetadataFetches(ctx)
		if err != nil || len(got) != 2 || got[0].IdP != "corp" || !got[0].At.Equal(at.Add(time.Hour)) ||
			len(got[0].Fingerprints) != 1 || got[0].Fingerprints[0] != "cc" || len(got[1].Fingerprints) != 0 {
			t.Fatalf("MetadataFetches = %+v, %v", got, err)
		}
	})
}

// TestRotationByHand: a brought record as next, its cancel (the record
// stays active), a generated one's cancel (deactivated), and Reconcile
// after a property moved by hand — on every backend.
func TestRotationByHand(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		s := open(t, o)
		brought, err := s.AddRecord(ctx, "t", NewRecord{Name: "brought", Type: TypePKCS12, Data: readFixture(t, "sp.p12"),
			StorePassword: secret.FromString(sentinelStorePass)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PublishRecord(ctx, "t", "signing", BaseSigningID, PublishAdd); !errors.Is(err, ErrInvalid) {
			t.Fatalf("publishing the current key as next: %v", err)
		}
		if err := s.PublishRecord(ctx, "t", "signing", brought.ID, "sideways"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("a bad mode: %v", err)
		}
		if err := s.PublishRecord(ctx, "t", "signing", brought.ID, PublishAdd); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishRecord(ctx, "t", "encryption", brought.ID, PublishReplace); !errors.Is(err, ErrInUse) {
			t.Fatalf("a record in the other use's rollover: %v", err)
		}
		rows, _ := s.Rotations(ctx, "signing")
		if len(rows) != 1 || !rows[0].Brought || rows[0].State != RotationNext || rows[0].PublishMode != PublishAdd {
			t.Fatalf("rows after publishing a brought record: %+v", rows)
		}
		if err := s.Cancel(ctx, "t", "signing", brought.ID); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Record(ctx, brought.ID); !r.Active {
			t.Fatal("cancel deactivated a brought record")
		}
		if rows, _ := s.Rotations(ctx, "signing"); len(rows) != 0 {
			t.Fatalf("a cancelled brought record keeps its row: %+v", rows)
		}
		gen, err := s.PublishNext(ctx, "t", "signing", NewRecord{Name: "generated", Type: TypePKCS12, Data: readFixture(t, "sp.p12"),
			StorePassword: secret.FromString(sentinelStorePass)}, PublishAdd)
		if err != nil {
			t.Fatal(err)
		}
		if changed, err := s.Reconcile(ctx, "t", "signing"); changed || err != nil {
			t.Fatalf("reconcile of an agreeing state: %v %v", changed, err)
		}
		// The operator points the property at the next key by hand.
		if err := s.SetProperty(ctx, "t", PropSigningKeystore, gen.ID); err != nil {
			t.Fatal(err)
		}
		if changed, err := s.Reconcile(ctx, "t", "signing"); !changed || err != nil {
			t.Fatalf("reconcile after the property moved: %v %v", changed, err)
		}
		rows, _ = s.Rotations(ctx, "signing")
		if len(rows) != 1 || rows[0].RecordID != gen.ID || rows[0].State != RotationActive {
			t.Fatalf("rows after reconcile: %+v", rows)
		}
		if err := s.Cancel(ctx, "t", "signing", gen.ID); !errors.Is(err, ErrInvalid) {
			t.Fatalf("cancelling an active key: %v", err)
		}
	})
}
