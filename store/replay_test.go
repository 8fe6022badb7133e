package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
)

var _ sp.ReplayCache = (*ReplayCache)(nil)

func TestRecordReplay(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		steps := []struct {
			name     string
			key      string
			expires  time.Time
			now      time.Time
			wantSeen bool
		}{
			{"new id", "corp\x00id-1", t0.Add(5 * time.Minute), t0, false},
			{"replayed before expiry", "corp\x00id-1", t0.Add(5 * time.Minute), t0.Add(time.Minute), true},
			{"same id from another IdP", "other\x00id-1", t0.Add(5 * time.Minute), t0, false},
			{"replayed at expiry: reclaimed", "corp\x00id-1", t0.Add(10 * time.Minute), t0.Add(5 * time.Minute), false},
			{"reclaimed id holds its new expiry", "corp\x00id-1", t0.Add(10 * time.Minute), t0.Add(9 * time.Minute), true},
			{"any bytes are a key", "\xff\x00\xfe", t0.Add(time.Minute), t0, false},
		}
		for _, st := range steps {
			seen, err := s.RecordReplay(ctx, st.key, st.expires, st.now)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if seen != st.wantSeen {
				t.Errorf("%s: seen = %v, want %v", st.name, seen, st.wantSeen)
			}
		}
		n, err := s.PurgeReplays(ctx, t0.Add(5*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("PurgeReplays = %d, %v; want 2 (other\\x00id-1 and the byte key)", n, err)
		}
		if seen, err := s.RecordReplay(ctx, "corp\x00id-1", t0.Add(10*time.Minute), t0.Add(6*time.Minute)); err != nil || !seen {
			t.Errorf("unexpired id purged: seen = %v, %v", seen, err)
		}
	})
}

// TestReplayAcrossReplicas: two stores on one database are two replicas;
// an id one accepted the other refuses, through the layered cache too.
// Many goroutines on both race for one id: exactly one wins.
func TestReplayAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			o := b.options(t)
			o.NoBaseKeystores = true
			r1, r2 := open(t, o), open(t, o)
			c1 := &sp.LayeredReplayCache{Fast: sp.NewMemoryReplayCache(1000), Shared: r1.ReplayCache()}
			c2 := &sp.LayeredReplayCache{Fast: sp.NewMemoryReplayCache(1000), Shared: r2.ReplayCache()}
			if seen, err := c1.Record(ctx, "corp\x00resp-1", now.Add(time.Minute), now); err != nil || seen {
				t.Fatalf("replica 1 first use = %v, %v", seen, err)
			}
			if seen, err := c2.Record(ctx, "corp\x00resp-1", now.Add(time.Minute), now); err != nil || !seen {
				t.Errorf("replica 2 accepted a response replica 1 accepted: seen = %v, %v", seen, err)
			}

			for round := range 5 {
				key := fmt.Sprintf("corp\x00race-%d", round)
				var accepted atomic.Int64
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						c := []*sp.LayeredReplayCache{c1, c2}[i%2]
						seen, err := c.Record(ctx, key, now.Add(time.Minute), now)
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
					t.Errorf("round %d: %d of 8 concurrent uses on two replicas accepted, want 1", round, n)
				}
			}
		})
	}
}

// BenchmarkRecordReplay is the latency a response pays for replay
// protection shared by replicas: one new id recorded and one replay
// refused, through the store (no memory layer), per iteration.
func BenchmarkRecordReplay(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			o := benchOptions(b, be.name)
			s, err := Open(context.Background(), o)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			ctx := context.Background()
			now := time.Now()
			i := 0
			for b.Loop() {
				i++
				key := fmt.Sprintf("corp\x00bench-%d", i)
				if seen, err := s.RecordReplay(ctx, key, now.Add(time.Minute), now); err != nil || seen {
					b.Fatalf("record: %v %v", seen, err)
				}
				if seen, err := s.RecordReplay(ctx, key, now.Add(time.Minute), now); err != nil || !seen {
					b.Fatalf("check: %v %v", seen, err)
				}
			}
		})
	}
}
