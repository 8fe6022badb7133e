package daemon

import (
	"context"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
)

// ReplayStore is a Store that also keeps the replay ids (accepted
// assertion ids) of every replica sharing it, each until it expires.
// *store.Store satisfies it on SQLite and PostgreSQL. RecordReplay MUST be
// atomic across replicas: of concurrent callers with one unexpired key,
// exactly one gets seen == false.
type ReplayStore interface {
	RecordReplay(ctx context.Context, key string, expires, now time.Time) (seen bool, err error)
	PurgeReplays(ctx context.Context, now time.Time) (int, error)
}

// replayMemory is how many unexpired ids the in-memory fast path holds.
const replayMemory = 100_000

// replayPurgeEvery is how often expired replay ids are deleted.
const replayPurgeEvery = 10 * time.Minute

// replayCache returns the daemon's replay cache: in memory in front of the
// store's shared ids when st is a ReplayStore (a response accepted by one
// replica is refused by every other), in memory alone otherwise.
func replayCache(st Store) sp.ReplayCache {
	mem := sp.NewMemoryReplayCache(replayMemory)
	rs, ok := st.(ReplayStore)
	if !ok {
		return mem
	}
	return &sp.LayeredReplayCache{Fast: mem, Shared: sharedReplay{rs}}
}

// sharedReplay is a ReplayStore as an sp.ReplayCache.
type sharedReplay struct{ st ReplayStore }

func (r sharedReplay) Record(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	return r.st.RecordReplay(ctx, key, expires, now)
}

// replayPurgeLoop deletes expired replay ids now and every
// replayPurgeEvery. Every replica purges; a purge is one indexed DELETE.
func (d *Daemon) replayPurgeLoop(ctx context.Context) {
	rs, ok := d.opts.Store.(ReplayStore)
	if !ok {
		return
	}
	t := time.NewTicker(replayPurgeEvery)
	defer t.Stop()
	for {
		d.purgeReplays(ctx, rs)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Daemon) purgeReplays(ctx context.Context, rs ReplayStore) {
	defer d.recoverJob("replay id purge")
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := rs.PurgeReplays(ctx, d.now())
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("purge expired replay ids", "err", err)
		}
		return
	}
	d.metrics.replayPurged.Add(float64(n))
	if n > 0 {
		d.log.Debug("purged expired replay ids", "count", n)
	}
}
