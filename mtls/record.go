package mtls

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// CheckResultStore keeps check results as JSON rows, in plain values;
// *store.Store satisfies it. Implementations MUST be safe for concurrent
// use.
type CheckResultStore interface {
	// AddCheckResult keeps one result of the check, and only the newest
	// keep results of it.
	AddCheckResult(ctx context.Context, check string, at time.Time, ok bool, result []byte, keep int) error
	// CheckResultsJSON returns the newest n results of the check as they
	// were added, newest first (n <= 0: all that are kept).
	CheckResultsJSON(ctx context.Context, check string, n int) ([][]byte, error)
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
	rows, err := s.Store.CheckResultsJSON(ctx, check, n)
	if err != nil {
		return nil, err
	}
	out := make([]*Result, 0, len(rows))
	for i, row := range rows {
		r := new(Result)
		if err := json.Unmarshal(row, r); err != nil {
			return nil, fmt.Errorf("read check %q result %d (newest first): %w", check, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}
