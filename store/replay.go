package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// migrateV9 adds the replay ids: the message ids (assertion ids, logout
// message ids) replicas accepted, each until it expires. A key is stored as
// its SHA-256, so any bytes fit and every row has one size.
func migrateV9(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	for _, q := range []string{
		`CREATE TABLE replay_ids (
			key_sha256 TEXT PRIMARY KEY,
			expires    TEXT NOT NULL
		)`,
		`CREATE INDEX replay_ids_by_expiry ON replay_ids (expires)`,
	} {
		if _, err := tx.ExecContext(ctx, d.sql(q)); err != nil {
			return err
		}
	}
	return nil
}

// RecordReplay stores key until expires and reports whether it was already
// stored and not yet expired at now. Of any number of concurrent callers
// with one key — goroutines, processes on one SQLite file, replicas on one
// PostgreSQL database — exactly one gets seen == false while the key is
// unexpired; an expired key is reclaimed by the next caller. Replay ids are
// not audited and do not move the change counter. Its op name is
// "record_replay".
func (s *Store) RecordReplay(ctx context.Context, key string, expires, now time.Time) (seen bool, err error) {
	ctx, done := s.call(ctx, "record_replay")
	defer done(&err)
	sum := sha256.Sum256([]byte(key))
	res, err := s.db.ExecContext(ctx, `INSERT INTO replay_ids (key_sha256, expires) VALUES ($1, $2)
		ON CONFLICT (key_sha256) DO UPDATE SET expires = excluded.expires WHERE replay_ids.expires <= $3`,
		hex.EncodeToString(sum[:]), fmtTime(expires), fmtTime(now))
	if err != nil {
		return false, fmt.Errorf("record replay id: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record replay id: %w", err)
	}
	return n == 0, nil
}

// PurgeReplays deletes the replay ids expired at now and returns how many.
// Its op name is "purge_replays".
func (s *Store) PurgeReplays(ctx context.Context, now time.Time) (_ int, err error) {
	ctx, done := s.call(ctx, "purge_replays")
	defer done(&err)
	res, err := s.db.ExecContext(ctx, `DELETE FROM replay_ids WHERE expires <= $1`, fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("purge replay ids: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge replay ids: %w", err)
	}
	return int(n), nil
}

// ReplayCache is the store as an sp.ReplayCache shared by replicas. Put an
// sp.MemoryReplayCache in front of it with sp.LayeredReplayCache.
type ReplayCache struct{ s *Store }

// ReplayCache returns the store's replay ids as an sp.ReplayCache.
func (s *Store) ReplayCache() *ReplayCache { return &ReplayCache{s} }

// Record implements sp.ReplayCache with RecordReplay.
func (c *ReplayCache) Record(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	return c.s.RecordReplay(ctx, key, expires, now)
}
