package daemon

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

// Backoff of the retries that wait for the store: 1 s doubling to 1 min,
// each wait jittered by ±20 % so replicas do not retry in step.
const (
	backoffFirst = time.Second
	backoffMax   = time.Minute
)

// backoff yields the waits between attempts.
type backoff struct{ cur time.Duration }

func newBackoff() *backoff { return &backoff{} }

// next returns the wait before the next attempt.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = backoffFirst
	} else {
		b.cur = min(2*b.cur, backoffMax)
	}
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64())) //nolint:gosec // jitter, not a secret
}

// reloadRetry holds the one reload that failed because the store was
// unavailable, until it builds, fails for another reason, or a newer reload
// (config file edit, SIGHUP) replaces it. Reloads are numbered as they
// arrive (input), so an older one never replaces a newer one. It is safe
// for concurrent use.
type reloadRetry struct {
	kick chan struct{} // wakes retryLoop when the pending reload or its time changed

	mu      sync.Mutex
	gen     uint64 // the number of the latest reload
	pending bool
	pgen    uint64         // the pending reload's number
	trigger string         // what triggered it
	cfg     *config.Config // its config (nil: the serving one)
	b       *backoff
	at      time.Time // its next attempt
}

func newReloadRetry() reloadRetry { return reloadRetry{kick: make(chan struct{}, 1)} }

// input numbers a new reload: from now on a pending older one is dropped.
func (r *reloadRetry) input() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	return r.gen
}

// wait makes reload gen the pending one, retried after the next backoff,
// unless a newer reload arrived meanwhile.
func (r *reloadRetry) wait(gen uint64, trigger string, cfg *config.Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen < r.gen {
		return
	}
	if !r.pending || r.pgen != gen {
		r.b = newBackoff()
	}
	r.pending, r.pgen, r.trigger, r.cfg = true, gen, trigger, cfg
	r.at = time.Now().Add(r.b.next())
	r.wake()
}

// done ends reload gen (it built or was rejected); a newer one stays.
func (r *reloadRetry) done(gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending && r.pgen <= gen {
		r.pending = false
		r.cfg = nil
	}
}

// now moves the pending reload's next attempt to now (the store answers).
func (r *reloadRetry) now() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending && time.Now().Before(r.at) {
		r.at = time.Now()
		r.wake()
	}
}

// due returns when the pending reload is due, if one is.
func (r *reloadRetry) due() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at, r.pending
}

// take returns the pending reload for an attempt, if one is due; a reload
// that arrives during the attempt replaces it.
func (r *reloadRetry) take() (gen uint64, trigger string, cfg *config.Config, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending && r.pgen < r.gen { // replaced by a reload in progress
		r.pending, r.cfg = false, nil
	}
	if !r.pending {
		return 0, "", nil, false
	}
	return r.pgen, r.trigger, r.cfg, true
}

// pendingTrigger says what triggered the reload waiting for the store, if any.
func (r *reloadRetry) pendingTrigger() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.trigger, r.pending
}

func (r *reloadRetry) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}
