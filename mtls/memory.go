package mtls

import (
	"context"
	"sync"
)

// MemoryLocker is a Locker for a single process: a lock is held while fn
// runs, and a second caller for the same name does not wait but gets
// ran=false.
type MemoryLocker struct {
	mu   sync.Mutex
	held map[string]bool
}

var _ Locker = (*MemoryLocker)(nil)

// WithLock runs fn unless name is already held.
func (l *MemoryLocker) WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error) {
	l.mu.Lock()
	if l.held[name] {
		l.mu.Unlock()
		return false, nil
	}
	if l.held == nil {
		l.held = map[string]bool{}
	}
	l.held[name] = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.held, name)
		l.mu.Unlock()
	}()
	return true, fn(ctx)
}

// MemoryRecorder is a Recorder that keeps the last Keep results per check
// in memory (Keep <= 0 keeps 100).
type MemoryRecorder struct {
	Keep int

	mu      sync.Mutex
	results map[string][]*Result
}

var _ Recorder = (*MemoryRecorder)(nil)

// RecordCheck appends r to its check's history, dropping the oldest beyond
// Keep.
func (m *MemoryRecorder) RecordCheck(_ context.Context, r *Result) error {
	keep := m.Keep
	if keep <= 0 {
		keep = 100
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results == nil {
		m.results = map[string][]*Result{}
	}
	h := append(m.results[r.Check], r)
	if len(h) > keep {
		h = append([]*Result(nil), h[len(h)-keep:]...)
	}
	m.results[r.Check] = h
	return nil
}

// LastCheck returns the newest result of the check, or nil.
func (m *MemoryRecorder) LastCheck(_ context.Context, check string) (*Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.results[check]
	if len(h) == 0 {
		return nil, nil
	}
	return h[len(h)-1], nil
}

// History returns the kept results of the check, oldest first.
func (m *MemoryRecorder) History(check string) []*Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Result(nil), m.results[check]...)
}
