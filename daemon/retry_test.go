package daemon

import (
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

func TestBackoff(t *testing.T) {
	b := newBackoff()
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		got := b.next()
		if lo, hi := time.Duration(float64(w)*0.8), time.Duration(float64(w)*1.2); got < lo || got > hi {
			t.Errorf("wait %d = %v, want %v ±20%%", i, got, w)
		}
	}
}

// TestReloadRetry: the reload that waits for the store is the latest one;
// an older one failing late, or one replaced by a reload in progress, is
// never retried over it.
func TestReloadRetry(t *testing.T) {
	one, two := &config.Config{}, &config.Config{}
	r := newReloadRetry()
	g1 := r.input()
	r.wait(g1, "config file", one)
	if gen, trig, cfg, ok := r.take(); !ok || gen != g1 || trig != "config file" || cfg != one {
		t.Fatalf("take = %d %q %p %v", gen, trig, cfg, ok)
	}
	g2 := r.input() // a newer edit arrives and is being built
	if _, _, _, ok := r.take(); ok {
		t.Fatal("the older reload is retried while a newer one is in progress")
	}
	r.wait(g1, "config file", one) // the older one's attempt fails late
	if _, ok := r.pendingTrigger(); ok {
		t.Fatal("an older reload replaced a newer one")
	}
	r.wait(g2, "sighup", two)
	first, _ := r.due()
	r.wait(g2, "sighup", two) // another failed attempt: the backoff grows
	second, _ := r.due()
	if !second.After(first) {
		t.Errorf("backoff did not grow: %v then %v", first, second)
	}
	r.now() // the store answers again
	if at, ok := r.due(); !ok || at.After(time.Now()) {
		t.Errorf("due %v %v after the store answered, want now", at, ok)
	}
	r.done(g2)
	if _, ok := r.pendingTrigger(); ok {
		t.Error("a built reload is still pending")
	}
}
