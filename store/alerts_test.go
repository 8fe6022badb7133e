package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestClaimAlert(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		c0, _ := s.ChangeCounter(ctx)
		first, err := s.ClaimAlert(ctx, "expiry:ab:720h0m0s", at)
		if err != nil || !first {
			t.Fatalf("first claim = %v, %v", first, err)
		}
		if again, err := s.ClaimAlert(ctx, "expiry:ab:720h0m0s", at); err != nil || again {
			t.Fatalf("second claim = %v, %v", again, err)
		}
		// Sixteen claimers of one key, on their own connections: one wins.
		other := open(t, o)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := s
				if i%2 == 1 {
					st = other
				}
				ok, err := st.ClaimAlert(ctx, "expired:cd", at)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 16 concurrent claims won, want 1", wins.Load())
		}
		// A renewed certificate: its claims are forgotten, it alerts again.
		if _, err := s.ClaimAlert(ctx, "expiry:ab:168h0m0s", at); err != nil {
			t.Fatal(err)
		}
		if n, err := s.ForgetAlerts(ctx, "expiry:ab:"); err != nil || n != 2 {
			t.Fatalf("ForgetAlerts = %d, %v, want 2", n, err)
		}
		if first, _ := s.ClaimAlert(ctx, "expiry:ab:720h0m0s", at); !first {
			t.Fatal("a forgotten alert cannot be claimed again")
		}
		if first, _ := s.ClaimAlert(ctx, "expired:cd", at); first {
			t.Fatal("ForgetAlerts removed a claim outside its prefix")
		}
		if _, err := s.ClaimAlert(ctx, "", at); !errors.Is(err, ErrInvalid) {
			t.Fatalf("empty key: %v", err)
		}
		if c1, _ := s.ChangeCounter(ctx); c1 != c0 {
			t.Fatalf("claims moved the change counter %d -> %d", c0, c1)
		}
	})
}
