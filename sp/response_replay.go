package sp

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryReplayCache is the in-memory ReplayCache: at most max unexpired
// assertion IDs, each dropped once its NotOnOrAfter (plus clock skew) has
// passed. When it is full of unexpired IDs it refuses to record more
// (ErrResponseReplayCacheFull) rather than forget one early, which would
// reopen that assertion to replay. It is safe for concurrent use; it is
// per process, so replicas behind one ACS need a shared ReplayCache.
type MemoryReplayCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]time.Time
}

var _ ReplayCache = (*MemoryReplayCache)(nil)

// NewMemoryReplayCache returns an empty cache holding at most max IDs.
func NewMemoryReplayCache(max int) *MemoryReplayCache {
	return &MemoryReplayCache{max: max, entries: map[string]time.Time{}}
}

// Record implements ReplayCache.
func (c *MemoryReplayCache) Record(_ context.Context, key string, expires, now time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.entries[key]; ok && now.Before(exp) {
		return true, nil
	}
	if len(c.entries) >= c.max {
		for k, exp := range c.entries {
			if !now.Before(exp) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			return false, fmt.Errorf("record assertion id: %d unexpired ids held: %w", len(c.entries), ErrResponseReplayCacheFull)
		}
	}
	c.entries[key] = expires
	return false, nil
}

// Len returns the number of IDs held, expired or not.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
