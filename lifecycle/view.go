package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

// storedKey is one key of a use as the store holds it: its rotation row,
// its record, and whether the use's keystore property selects it.
type storedKey struct {
	row      store.Rotation
	rec      *store.Record
	selected bool
}

// readKeys reads a use's keys: its rotation rows with their records, plus
// the record the keystore property selects when that record has no row (a
// base keystore never rotated), as an active row without dates.
func readKeys(ctx context.Context, st Reader, use keys.Use) ([]storedKey, error) {
	prop, err := store.UseProperty(string(use))
	if err != nil {
		return nil, err
	}
	selected, _, err := st.Property(ctx, prop)
	if err != nil {
		return nil, fmt.Errorf("read property %s: %w", prop, err)
	}
	rots, err := st.Rotations(ctx, string(use))
	if err != nil {
		return nil, err
	}
	var out []storedKey
	seen := false
	for _, r := range rots {
		rec, err := st.Record(ctx, r.RecordID)
		if err != nil {
			return nil, fmt.Errorf("rotation record %s: %w", r.RecordID, err)
		}
		seen = seen || r.RecordID == selected
		out = append(out, storedKey{row: r, rec: rec, selected: r.RecordID == selected})
	}
	if !seen && selected != "" {
		rec, err := st.Record(ctx, selected)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", prop, err)
		}
		out = append(out, storedKey{row: store.Rotation{RecordID: selected, Use: string(use), State: store.RotationActive},
			rec: rec, selected: true})
	}
	return out, nil
}

// key is the decisions' view of a stored key: the record the property
// selects is the active key whatever its row says, and a row still marked
// active that the property no longer selects (it was moved by hand) is
// retired.
func (k storedKey) key() Key {
	key := keyOf(k.row, k.selected)
	key.NotAfter = k.rec.NotAfter
	return key
}

// keyOf is the view of one rotation row: the selected record is active
// whatever its row says; an active row not selected is retired.
func keyOf(r store.Rotation, selected bool) Key {
	state := State(r.State)
	switch {
	case selected:
		state = StateActive
	case state == StateActive:
		state = StateRetired
	}
	return Key{ID: r.RecordID, State: state, PublishedAt: r.PublishedAt, PromotedAt: r.PromotedAt,
		RetiredAt: r.RetiredAt, Mode: r.PublishMode}
}

// Publication is one key a use serves: whether metadata lists it.
type Publication struct {
	Key
	Listed bool
}

// Serving returns the keys of a use that decrypt (and, listed, are
// published) at now, from its rotation rows and the record its keystore
// property selects, in Published order: the rule the snapshot build applies
// and rotate status reports. The selected record comes first even without
// a row (a base keystore never rotated).
func Serving(rows []store.Rotation, selected string, now time.Time, p Policy, use keys.Use) []Publication {
	ks := make([]Key, 0, len(rows)+1)
	seen := false
	for _, r := range rows {
		seen = seen || r.RecordID == selected
		ks = append(ks, keyOf(r, r.RecordID == selected))
	}
	if !seen && selected != "" {
		ks = append(ks, Key{ID: selected, State: StateActive})
	}
	kept := Published(ks, now, p)
	out := make([]Publication, 0, len(kept))
	for _, k := range kept {
		out = append(out, Publication{Key: k, Listed: Listed(k, kept, use)})
	}
	return out
}

func view(stored []storedKey) []Key {
	out := make([]Key, 0, len(stored))
	for _, k := range stored {
		out = append(out, k.key())
	}
	return out
}

// Keys returns the rotation view of a use's keys, as Due and Published take
// it: every key with a rotation row, plus the record the keystore property
// selects (always the active key).
func Keys(ctx context.Context, st Reader, use keys.Use) ([]Key, error) {
	stored, err := readKeys(ctx, st, use)
	if err != nil {
		return nil, err
	}
	return view(stored), nil
}

// FetchedNext reports whether an IdP's last metadata fetch came after the
// next key was published and was served that key's certificate (matched by
// SHA-256 fingerprint, lower-case hex as records keep it).
func FetchedNext(f store.MetadataFetch, nextFingerprint string, published time.Time) bool {
	return !f.At.Before(published) && slices.Contains(f.Fingerprints, nextFingerprint)
}

// CaughtUp is the "have the IdPs caught up" rule: every IdP that has ever
// fetched the metadata has fetched the next key (FetchedNext). It names the
// IdPs still behind. With no recorded fetch it is true: there is nobody to
// wait for.
func CaughtUp(fetches []store.MetadataFetch, nextFingerprint string, published time.Time) (bool, []string) {
	var behind []string
	for _, f := range fetches {
		if !FetchedNext(f, nextFingerprint, published) {
			behind = append(behind, f.IdP)
		}
	}
	return len(behind) == 0, behind
}
