package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// WithLock runs fn when this replica holds the lock called name and reports
// whether it ran. When another holder has it, WithLock returns (false, nil)
// at once without waiting: the job is someone else's this time. On
// PostgreSQL the lock is a session advisory lock shared by every replica
// using the database; on SQLite the process is alone and the lock is held
// in memory.
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
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, fmt.Errorf("lock %q: %w", name, err)
	}
	defer conn.Close()
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&got); err != nil {
		return false, fmt.Errorf("lock %q: %w", name, err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		// Unlock even when ctx is done; closing the session would free it too.
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key)
	}()
	return true, fn(ctx)
}

// lockKey maps a lock name to a PostgreSQL advisory lock key.
func lockKey(name string) int64 {
	sum := sha256.Sum256([]byte("samlkeyd lock " + name))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
