package store

import (
	"context"
	"errors"
	"testing"

	"samlkeyd/secret"
)

func TestRotationSteps(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		s := open(t, o) // with the base keystores: the signing property points at BaseSigningID
		next := func(name string) NewRecord {
			return NewRecord{Name: name, Type: TypePKCS12, Data: readFixture(t, "sp.p12"), StorePassword: secret.FromString(sentinelStorePass)}
		}
		rec, err := s.PublishNext(ctx, "rotation", "signing", next("signing 2027"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PublishNext(ctx, "rotation", "signing", next("signing 2027b")); !errors.Is(err, ErrExists) {
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
