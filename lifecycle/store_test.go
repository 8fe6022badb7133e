package lifecycle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// The store satisfies what rotation needs of it.
var _ Store = (*store.Store)(nil)

// TestStatesAreTheStores: the states lifecycle decides on are the ones the
// store records.
func TestStatesAreTheStores(t *testing.T) {
	for _, c := range [][2]string{
		{string(StateNext), store.RotationNext}, {string(StateActive), store.RotationActive},
		{string(StateRetired), store.RotationRetired}, {string(StateInactive), store.RotationInactive},
	} {
		if c[0] != c[1] {
			t.Errorf("lifecycle state %q, store state %q", c[0], c[1])
		}
	}
}

// fakeStore is an in-memory Store with the same refusals as store.Store's
// rollover steps, so the tests exercise lifecycle's rules and not SQL.
type fakeStore struct {
	mu       sync.Mutex
	now      func() time.Time
	props    map[string]string
	records  map[string]*store.Record
	rots     []store.Rotation
	fetches  []store.MetadataFetch
	held     map[string]bool
	audit    []string
	failRead error // returned by every read when set
}

func newFakeStore(now func() time.Time) *fakeStore {
	return &fakeStore{now: now, props: map[string]string{}, records: map[string]*store.Record{}, held: map[string]bool{}}
}

func (f *fakeStore) Property(_ context.Context, name string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.props[name]
	return v, ok, f.failRead
}

func (f *fakeStore) Record(_ context.Context, id string) (*store.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRead != nil {
		return nil, f.failRead
	}
	r, ok := f.records[id]
	if !ok {
		return nil, fmt.Errorf("record %q: %w", id, store.ErrNotFound)
	}
	return r, nil
}

func (f *fakeStore) Rotations(_ context.Context, use string) ([]store.Rotation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Rotation
	for _, r := range f.rots {
		if r.Use == use {
			out = append(out, r)
		}
	}
	return out, f.failRead
}

func (f *fakeStore) MetadataFetches(context.Context) ([]store.MetadataFetch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.fetches), f.failRead
}

func (f *fakeStore) WithLock(ctx context.Context, name string, fn func(context.Context) error) (bool, error) {
	f.mu.Lock()
	if f.held[name] {
		f.mu.Unlock()
		return false, nil
	}
	f.held[name] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.held, name)
		f.mu.Unlock()
	}()
	return true, fn(ctx)
}

// addKeystore stores a keystore as a record, with the public facts the
// store would derive from it.
func (f *fakeStore) addKeystore(t *testing.T, id, name string, data []byte, pw secret.Value) *store.Record {
	t.Helper()
	rec, err := f.record(store.NewRecord{ID: id, Name: name, Type: store.TypePKCS12, Data: data, StorePassword: pw, KeyPassword: pw})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[id] = rec
	return rec
}

func (f *fakeStore) record(r store.NewRecord) (*store.Record, error) {
	ks, err := keys.Parse(r.Data, r.StorePassword, r.KeyPassword)
	if err != nil {
		return nil, err
	}
	e, err := ks.PrivateKeyEntry(r.Alias)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(e.Leaf().Raw)
	return &store.Record{ID: r.ID, Name: r.Name, Type: r.Type, Format: ks.Format, Active: true, Alias: e.Alias,
		NotAfter: e.Leaf().NotAfter, FingerprintSHA256: hex.EncodeToString(sum[:]), Data: r.Data,
		StorePassword: r.StorePassword, KeyPassword: r.KeyPassword}, nil
}

func (f *fakeStore) PublishNext(_ context.Context, actor, use string, r store.NewRecord, mode string) (*store.Record, error) {
	rec, err := f.record(r)
	if err != nil {
		return nil, fmt.Errorf("publish next %s key: %w: %w", use, store.ErrInvalid, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.rots {
		if x.Use == use && x.State == store.RotationNext {
			return nil, fmt.Errorf("a next %s key is already published: %w", use, store.ErrExists)
		}
	}
	if _, ok := f.records[r.ID]; ok {
		return nil, store.ErrExists
	}
	f.records[r.ID] = rec
	f.rots = append(f.rots, store.Rotation{RecordID: r.ID, Use: use, State: store.RotationNext, PublishedAt: f.now(), PublishMode: mode})
	f.audit = append(f.audit, actor+" publish "+r.ID)
	return rec, nil
}

func (f *fakeStore) Promote(_ context.Context, actor, use, id string) error {
	prop, err := store.UseProperty(use)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.rots, func(r store.Rotation) bool { return r.RecordID == id && r.Use == use })
	if i < 0 || f.rots[i].State != store.RotationNext {
		return fmt.Errorf("record %s is not the next %s key: %w", id, use, store.ErrInvalid)
	}
	old := f.props[prop]
	f.props[prop] = id
	f.rots[i].State, f.rots[i].PromotedAt = store.RotationActive, f.now()
	if old != "" && old != id {
		if j := slices.IndexFunc(f.rots, func(r store.Rotation) bool { return r.RecordID == old }); j >= 0 {
			f.rots[j].State, f.rots[j].RetiredAt = store.RotationRetired, f.now()
		} else {
			f.rots = append(f.rots, store.Rotation{RecordID: old, Use: use, State: store.RotationRetired, RetiredAt: f.now()})
		}
	}
	f.audit = append(f.audit, actor+" promote "+id)
	return nil
}

func (f *fakeStore) Deactivate(_ context.Context, actor, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.rots, func(r store.Rotation) bool { return r.RecordID == id })
	if i < 0 || f.rots[i].State != store.RotationRetired {
		return fmt.Errorf("record %s is not a retired key: %w", id, store.ErrInvalid)
	}
	for p, v := range f.props {
		if v == id {
			return fmt.Errorf("record %s is still selected by %s: %w", id, p, store.ErrInUse)
		}
	}
	f.rots[i].State = store.RotationInactive
	f.records[id].Active = false
	f.audit = append(f.audit, actor+" deactivate "+id)
	return nil
}

// TestFakeStoreRefuses: the fake refuses what store.Store refuses, so a
// rule that relied on it would fail here as it would against the store.
func TestFakeStoreRefuses(t *testing.T) {
	ctx := context.Background()
	f := newFakeStore(func() time.Time { return t0 })
	if err := f.Promote(ctx, "t", "signing", "nobody"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("promote unknown: %v", err)
	}
	if err := f.Deactivate(ctx, "t", "nobody"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("deactivate unknown: %v", err)
	}
	ran, err := f.WithLock(ctx, "x", func(ctx context.Context) error {
		inner, err := f.WithLock(ctx, "x", func(context.Context) error { return nil })
		if inner || err != nil {
			t.Errorf("inner lock = %v, %v; want false, nil", inner, err)
		}
		return nil
	})
	if !ran || err != nil {
		t.Errorf("lock = %v, %v", ran, err)
	}
}

func (f *fakeStore) RecordByName(_ context.Context, name string) (*store.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.records {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, fmt.Errorf("record named %q: %w", name, store.ErrNotFound)
}

func (f *fakeStore) PublishRecord(_ context.Context, actor, use, id, mode string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range f.rots {
		if x.Use == use && x.State == store.RotationNext {
			return fmt.Errorf("a next %s key is already published: %w", use, store.ErrExists)
		}
	}
	f.rots = slices.DeleteFunc(f.rots, func(r store.Rotation) bool { return r.RecordID == id })
	f.rots = append(f.rots, store.Rotation{RecordID: id, Use: use, State: store.RotationNext, PublishedAt: f.now(), PublishMode: mode, Brought: true})
	f.audit = append(f.audit, actor+" publish "+id)
	return nil
}

func (f *fakeStore) Cancel(_ context.Context, actor, use, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.rots, func(r store.Rotation) bool { return r.RecordID == id && r.Use == use })
	if i < 0 || f.rots[i].State != store.RotationNext {
		return fmt.Errorf("record %s is not the next %s key: %w", id, use, store.ErrInvalid)
	}
	if f.rots[i].Brought {
		f.rots = slices.Delete(f.rots, i, i+1)
	} else {
		f.rots[i].State = store.RotationInactive
		f.records[id].Active = false
	}
	f.audit = append(f.audit, actor+" cancel "+id)
	return nil
}

func (f *fakeStore) Reconcile(_ context.Context, actor, use string) (bool, error) {
	prop, err := store.UseProperty(use)
	if err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	sel, changed := f.props[prop], false
	for i, r := range f.rots {
		switch {
		case r.Use != use:
		case r.RecordID != sel && r.State == store.RotationActive:
			f.rots[i].State, f.rots[i].RetiredAt, changed = store.RotationRetired, f.now(), true
		case r.RecordID == sel && (r.State == store.RotationNext || r.State == store.RotationRetired):
			f.rots[i].State, f.rots[i].PromotedAt, f.rots[i].RetiredAt, changed = store.RotationActive, f.now(), time.Time{}, true
		}
	}
	if changed {
		f.audit = append(f.audit, actor+" reconcile "+use)
	}
	return changed, nil
}
