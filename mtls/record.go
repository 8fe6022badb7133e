package mtls

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/store"
)

// CheckResultStore is the store's check-results table; *store.Store
// satisfies it. Implementations MUST be safe for concurrent use.
type CheckResultStore interface {
	AddCheckResult(ctx context.Context, check string, at time.Time, ok bool, result []byte, keep int) error
	CheckResults(ctx context.Context, check string, n int) ([]store.CheckResult, error)
}

// StoreRecorder is the Recorder that persists each Result as JSON in the
// store, keeping the newest Keep per check (Keep <= 0 keeps 100).
type StoreRecorder struct {
	Store CheckResultStore
	Keep  int
}

var _ Recorder = StoreRecorder{}

// RecordCheck stores r as JSON.
func (s StoreRecorder) RecordCheck(ctx context.Context, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("record check %q: %w", r.Check, err)
	}
	keep := s.Keep
	if keep <= 0 {
		keep = 100
	}
	return s.Store.AddCheckResult(ctx, r.Check, r.Start, r.OK, b, keep)
}

// LastCheck returns the newest stored result of the check, or nil.
func (s StoreRecorder) LastCheck(ctx context.Context, check string) (*Result, error) {
	h, err := s.History(ctx, check, 1)
	if err != nil || len(h) == 0 {
		return nil, err
	}
	return h[0], nil
}

// History returns the newest n stored results of the check, newest first
// (n <= 0: all that are kept).
func (s StoreRecorder) History(ctx context.Context, check string, n int) ([]*Result, error) {
	rows, err := s.Store.CheckResults(ctx, check, n)
	if err != nil {
		return nil, err
	}
	out := make([]*Result, 0, len(rows))
	for i, row := range rows {
		r := new(Result)
		if err := json.Unmarshal(row.Result, r); err != nil {
			return nil, fmt.Errorf("read check %q result %d (at %s): %w", check, i, row.At.Format(time.RFC3339), err)
		}
		out = append(out, r)
	}
	return out, nil
}
