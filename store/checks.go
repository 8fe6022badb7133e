package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// CheckResult is one outcome of a scheduled check (an mTLS health check,
// say): when it ran, whether it passed, and the check's own JSON.
type CheckResult struct {
	Check  string          `json:"check"`
	At     time.Time       `json:"at"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
}

func migrateV3(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	for _, q := range []string{
		`CREATE TABLE check_results (
			id         {{serial}},
			check_name TEXT NOT NULL,
			at         TEXT NOT NULL,
			ok         BOOLEAN NOT NULL,
			result     TEXT NOT NULL
		)`,
		`CREATE INDEX check_results_by_check ON check_results (check_name, id)`,
	} {
		if _, err := tx.ExecContext(ctx, d.sql(q)); err != nil {
			return err
		}
	}
	return nil
}

// AddCheckResult records one result of the named check and keeps only the
// newest keep results of that check (keep <= 0 keeps all). result must be
// JSON. Check results are not audited and do not move the change counter.
func (s *Store) AddCheckResult(ctx context.Context, check string, at time.Time, ok bool, result []byte, keep int) (err error) {
	ctx, done := s.call(ctx, "add_check_result")
	defer done(&err)
	if check == "" {
		return fmt.Errorf("add check result: check name is empty: %w", ErrInvalid)
	}
	if !json.Valid(result) {
		return fmt.Errorf("add check result %q: result is not JSON: %w", check, ErrInvalid)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO check_results (check_name, at, ok, result) VALUES ($1, $2, $3, $4)`,
			check, fmtTime(at), ok, string(result)); err != nil {
			return err
		}
		if keep <= 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM check_results WHERE check_name = $1 AND id NOT IN
			(SELECT id FROM check_results WHERE check_name = $1 ORDER BY id DESC LIMIT $2)`, check, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("add check result %q: %w", check, err)
	}
	return nil
}

// CheckResults returns the newest n results of the named check, newest
// first (n <= 0: all of them).
func (s *Store) CheckResults(ctx context.Context, check string, n int) (_ []CheckResult, err error) {
	ctx, done := s.call(ctx, "check_results")
	defer done(&err)
	q := `SELECT at, ok, result FROM check_results WHERE check_name = $1 ORDER BY id DESC`
	args := []any{check}
	if n > 0 {
		q += ` LIMIT $2`
		args = append(args, n)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read check results %q: %w", check, err)
	}
	defer rows.Close()
	var out []CheckResult
	for rows.Next() {
		r := CheckResult{Check: check}
		var at, result string
		if err := rows.Scan(&at, &r.OK, &result); err != nil {
			return nil, fmt.Errorf("read check results %q: %w", check, err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read check results %q: %w", check, err)
		}
		r.Result = json.RawMessage(result)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read check results %q: %w", check, err)
	}
	return out, nil
}

// CheckResultsJSON returns the JSON of the newest n results of the named
// check, newest first (n <= 0: all of them): CheckResults in plain values,
// so mtls.StoreRecorder can read them without knowing this package.
func (s *Store) CheckResultsJSON(ctx context.Context, check string, n int) ([][]byte, error) {
	rows, err := s.CheckResults(ctx, check, n)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(rows))
	for i, r := range rows {
		out[i] = r.Result
	}
	return out, nil
}
