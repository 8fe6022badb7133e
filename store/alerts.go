package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

func migrateV4(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	_, err := tx.ExecContext(ctx, d.sql(`CREATE TABLE alert_ledger (
		alert_key TEXT PRIMARY KEY,
		first_at  TEXT NOT NULL
	)`))
	return err
}

// ClaimAlert records that the alert with this de-duplication key is being
// sent and reports whether this call is the first to claim it. Of any
// number of concurrent callers — goroutines, processes on one SQLite file,
// replicas on one PostgreSQL database — exactly one gets true, so an alert
// is sent once across restarts and replicas. Claims are not audited and do
// not move the change counter.
func (s *Store) ClaimAlert(ctx context.Context, key string, at time.Time) (first bool, err error) {
	ctx, done := s.call(ctx, "claim_alert")
	defer done(&err)
	if key == "" {
		return false, fmt.Errorf("claim alert: key is empty: %w", ErrInvalid)
	}
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO alert_ledger (alert_key, first_at) VALUES ($1, $2) ON CONFLICT (alert_key) DO NOTHING`,
		key, fmtTime(at))
	if err != nil {
		return false, fmt.Errorf("claim alert %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim alert %q: %w", key, err)
	}
	return n == 1, nil
}

// ForgetAlerts removes the claims whose key starts with prefix (a renewed or
// deleted certificate's), so they can be sent again, and returns how many.
func (s *Store) ForgetAlerts(ctx context.Context, prefix string) (_ int64, err error) {
	ctx, done := s.call(ctx, "forget_alerts")
	defer done(&err)
	if prefix == "" {
		return 0, fmt.Errorf("forget alerts: prefix is empty: %w", ErrInvalid)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM alert_ledger WHERE substr(alert_key, 1, $1) = $2`, len(prefix), prefix)
	if err != nil {
		return 0, fmt.Errorf("forget alerts %q: %w", prefix, err)
	}
	return res.RowsAffected()
}
