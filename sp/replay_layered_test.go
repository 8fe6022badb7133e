package sp

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedCache is a ReplayCache standing in for the store: a map shared by
// "replicas", counting its calls, failing on demand.
type sharedCache struct {
	mem   *MemoryReplayCache
	calls atomic.Int64
	fail  error
}

func (c *sharedCache) Record(ctx context.Context, key string, expires, now time.Time) (bool, error) {
	c.calls.Add(1)
	if c.fail != nil {
		return false, c.fail
	}
	return c.mem.Record(ctx, key, expires, now)
}

func TestLayeredReplayCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exp := now.Add(5 * time.Minute)
	shared := &sharedCache{mem: NewMemoryReplayCache(100)}
	a := &LayeredReplayCache{Fast: NewMemoryReplayCache(100), Shared: shared}
	b := &LayeredReplayCache{Fast: NewMemoryReplayCache(100), Shared: shared}

	steps := []struct {
		name      string
		c         *LayeredReplayCache
		key       string
		now       time.Time
		wantSeen  bool
		wantCalls int64 // shared calls so far
	}{
		{"first use on replica a asks the shared cache", a, "idp\x00id1", now, false, 1},
		{"replay on a answers from memory", a, "idp\x00id1", now, true, 1},
		{"replay on b: new to b's memory, refused by the shared cache", b, "idp\x00id1", now, true, 2},
		{"second replay on b answers from b's memory", b, "idp\x00id1", now, true, 2},
		{"another id on b", b, "idp\x00id2", now, false, 3},
		{"after expiry the id is new again", a, "idp\x00id1", exp, false, 4},
	}
	for _, st := range steps {
		seen, err := st.c.Record(ctx, st.key, st.now.Add(5*time.Minute), st.now)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if seen != st.wantSeen || shared.calls.Load() != st.wantCalls {
			t.Errorf("%s: seen %v after %d shared calls, want %v after %d", st.name, seen, shared.calls.Load(), st.wantSeen, st.wantCalls)
		}
	}
}

func TestLayeredReplayCacheFailsClosed(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := errors.New("store unavailable")
	shared := &sharedCache{mem: NewMemoryReplayCache(100), fail: down}
	c := &LayeredReplayCache{Fast: NewMemoryReplayCache(100), Shared: shared}
	if seen, err := c.Record(ctx, "k", now.Add(time.Minute), now); !errors.Is(err, down) || seen {
		t.Fatalf("shared cache down: Record = %v, %v; want the shared error", seen, err)
	}
	if seen, err := c.Record(ctx, "k", now.Add(time.Minute), now); err != nil || !seen {
		t.Errorf("retry of a key refused while the shared cache was down = %v, %v; want seen", seen, err)
	}
}

func TestLayeredReplayCacheFullFastDefersToShared(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shared := &sharedCache{mem: NewMemoryReplayCache(100)}
	c := &LayeredReplayCache{Fast: NewMemoryReplayCache(1), Shared: shared}
	for i, want := range []bool{false, false, true} {
		key := []string{"a", "b", "b"}[i]
		seen, err := c.Record(ctx, key, now.Add(time.Minute), now)
		if err != nil || seen != want {
			t.Errorf("record %q with a full memory cache = %v, %v; want %v, nil", key, seen, err, want)
		}
	}
}

// TestLayeredReplayCacheConcurrent: many goroutines on two replicas replay
// one key; exactly one is accepted. Run with -race.
func TestLayeredReplayCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shared := &sharedCache{mem: NewMemoryReplayCache(100)}
	replicas := []*LayeredReplayCache{
		{Fast: NewMemoryReplayCache(100), Shared: shared},
		{Fast: NewMemoryReplayCache(100), Shared: shared},
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			seen, err := replicas[i%2].Record(ctx, "idp\x00same", now.Add(time.Minute), now)
			if err != nil {
				t.Error(err)
			}
			if !seen {
				accepted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d of 16 concurrent uses of one id accepted, want 1", n)
	}
}
