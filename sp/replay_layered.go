package sp

import (
	"context"
	"errors"
	"time"
)

// LayeredReplayCache puts a per-process cache (Fast, an in-memory
// MemoryReplayCache) in front of one shared by replicas (Shared, the
// store's). A key Fast has seen is refused without asking Shared; a key new
// to Fast is recorded in Shared, whose answer decides, so a response
// accepted by one replica is refused by every other. It is safe for
// concurrent use when both layers are.
//
// It fails closed: when Shared fails, Record returns its error (the
// response is refused) and the key stays in Fast, so this replica refuses
// it afterwards too. A full Fast (ErrResponseReplayCacheFull) is not an
// error here: Shared alone decides.
type LayeredReplayCache struct {
	Fast   ReplayCache
	Shared ReplayCache
}

var _ ReplayCache = (*LayeredReplayCache)(nil)

// Record implements ReplayCache.
func (c *LayeredReplayCache) Record(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	seen, err := c.Fast.Record(ctx, key, expires, now)
	if err != nil && !errors.Is(err, ErrResponseReplayCacheFull) {
		return false, err
	}
	if seen {
		return true, nil
	}
	return c.Shared.Record(ctx, key, expires, now)
}
