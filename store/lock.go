package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"fmt"
)

// WithLock runs fn when this replica holds the lock called name and reports
// whether it ran. When another holder has it, WithLock returns (false, nil)
// at once without waiting: the job is someone else's this time. On
// PostgreSQL the lock is a session advisory lock shared by every replica
// using the database; on SQLite the process is alone and the lock is held
// in memory. Taking and releasing the lock run under the store's deadline;
// fn runs under ctx alone. Its op name is "with_lock" (fn's own error is not
// reported as a store error).
func (s *Store) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	if s.d.name == "postgres" {
		return s.withAdvisoryLock(ctx, name, fn)
	}
	s.mu.Lock()
	if s.locks[name] {
		s.mu.Unlock()
		return false, nil
	}
	s.locks[name] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.locks, name)
		s.mu.Unlock()
	}()
	return true, fn(ctx)
}

func (s *Store) withAdvisoryLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	key := lockKey(name)
	conn, err := s.takeAdvisoryLock(ctx, name, key)
	if err != nil || conn == nil {
		return false, err
	}
	defer func() {
		// Unlock even when ctx is done, but never wait past the deadline. A
		// session whose unlock failed still holds the lock: close it rather
		// than hand it back to the pool.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			_ = s.fail(ctx, "with_lock", fmt.Errorf("unlock %q: %w", name, err))
		}
		_ = conn.Close()
	}()
	return true, fn(ctx)
}

// takeAdvisoryLock tries the advisory lock key on a connection of its own
// and returns that connection when it got the lock, nil when another
// session holds it.
func (s *Store) takeAdvisoryLock(ctx context.Context, name string, key int64) (_ *sql.Conn, err error) {
	cctx, done := s.call(ctx, "with_lock")
	defer done(&err)
	conn, err := s.db.Conn(cctx)
	if err != nil {
		return nil, fmt.Errorf("lock %q: %w", name, err)
	}
	var got bool
	if err := conn.QueryRowContext(cctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // the lock may have been taken: drop the session
		_ = conn.Close()
		return nil, fmt.Errorf("lock %q: %w", name, err)
	}
	if !got {
		_ = conn.Close()
		return nil, nil
	}
	return conn, nil
}

// lockKey maps a lock name to a PostgreSQL advisory lock key.
func lockKey(name string) int64 {
	sum := sha256.Sum256([]byte("samlkeyd lock " + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
