package lifecycle

import (
	"context"

	"github.com/samlkeyd/samlkeyd/store"
)

// Reader is what the rotation view (Keys) and ReadStatus read of the store.
//
// Implementations MUST be safe for concurrent use. Each method is one read
// bounded by ctx; an error is returned as it comes, lifecycle adds which key
// or property it was reading. *store.Store satisfies it.
type Reader interface {
	// Property returns a system property's value; ok is false when it is
	// unset. Rotation reads the keystore property of each use.
	Property(ctx context.Context, name string) (value string, ok bool, err error)
	// Record returns one certificate record, with its keystore bytes and
	// passwords, or an error when no record has that id.
	Record(ctx context.Context, id string) (*store.Record, error)
	// Rotations returns the rollover rows of one use ("signing" or
	// "encryption"), oldest first.
	Rotations(ctx context.Context, use string) ([]store.Rotation, error)
	// MetadataFetches returns the last metadata fetch of every IdP that
	// fetched, with the fingerprints it was served.
	MetadataFetches(ctx context.Context) ([]store.MetadataFetch, error)
}

// Locker runs fn while holding the lock called name, so that replicas
// sharing a store do not run the same job at once.
//
// WithLock MUST return (false, nil) at once, without running fn, when
// another holder has the lock, and otherwise fn's error with ran true; the
// lock is released when fn returns. *store.Store satisfies it.
type Locker interface {
	WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
}

// Store is what Rotate and the manual rollover need: the reads, the lock,
// and the rollover steps.
//
// Each step MUST be one transaction that either happens whole or not at
// all, so a run killed between steps leaves a state the next run continues
// from; each MUST refuse a step that no longer fits the stored state (a
// second next key, promoting a key that is not next, deactivating one that
// is not retired or is still selected by a property). actor is written to
// the audit log. *store.Store satisfies it.
type Store interface {
	Reader
	Locker
	// PublishNext stores a generated keystore as use's next key, published
	// in mode (store.PublishAdd or store.PublishReplace).
	PublishNext(ctx context.Context, actor, use string, r store.NewRecord, mode string) (*store.Record, error)
	// RecordByName returns the record named name, or store.ErrNotFound.
	RecordByName(ctx context.Context, name string) (*store.Record, error)
	// PublishRecord publishes an existing record as use's next key.
	PublishRecord(ctx context.Context, actor, use, id, mode string) error
	// Cancel withdraws use's next key before its promotion: a generated
	// key is deactivated with its record, a brought record loses its row.
	Cancel(ctx context.Context, actor, use, id string) error
	// Reconcile makes use's rotation states agree with its keystore
	// property (moved by hand): the selected record active, any other
	// active key retired; changed is false when they agreed.
	Reconcile(ctx context.Context, actor, use string) (changed bool, err error)
	// Promote points use's keystore property at the next key id and retires
	// the key it replaces.
	Promote(ctx context.Context, actor, use, id string) error
	// Deactivate makes a retired key, and its record, inactive.
	Deactivate(ctx context.Context, actor, id string) error
}
