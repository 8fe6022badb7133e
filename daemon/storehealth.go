package daemon

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/store"
)

// storeHealth is the store's state as the daemon sees it: up after a call
// that answered (the poll's change-counter read every PollInterval, a store
// opened), down after a call that failed with store.ErrUnavailable (any
// store call, reported through the store's OnError hook). It drives the
// samlkeyd_store_up gauge and logs each transition once. It is the one
// place a "store" component state can be read from (State).
type storeHealth struct {
	gauge prometheus.Gauge
	log   *slog.Logger
	// changed, when set, is told each transition (nil error: up) after
	// the lock is released: it feeds the "store" component.
	changed func(err error)

	mu      sync.Mutex
	known   bool // false until the first outcome
	up      bool
	since   time.Time
	lastErr error
}

// StoreState is the store's health at one moment.
type StoreState struct {
	Known   bool      // false before the first store call answered or failed
	Up      bool      // the last call answered
	Since   time.Time // when Up last changed
	LastErr error     // the last unavailability, kept after recovery
}

// ok records a call that answered at now and reports whether the store
// was down until now.
func (h *storeHealth) ok(now time.Time) (recovered bool) {
	h.mu.Lock()
	recovered = h.known && !h.up
	if recovered {
		h.log.Info("store reachable again", "down_for", now.Sub(h.since).Round(time.Millisecond))
	}
	turned := !h.known || !h.up
	if turned {
		h.since = now
	}
	h.known, h.up = true, true
	h.gauge.Set(1)
	h.mu.Unlock()
	if turned && h.changed != nil {
		h.changed(nil)
	}
	return recovered
}

// failed records err from a store call at now; only an unavailable store
// (timeout, connection lost) turns the state down: a refused statement is
// the call's problem, not the store's health.
func (h *storeHealth) failed(now time.Time, err error) {
	if !errors.Is(err, store.ErrUnavailable) {
		return
	}
	h.mu.Lock()
	turned := !h.known || h.up
	if turned {
		h.log.Warn("store unavailable", "err", err)
		h.since = now
	}
	h.known, h.up, h.lastErr = true, false, err
	h.gauge.Set(0)
	h.mu.Unlock()
	if turned && h.changed != nil {
		h.changed(err)
	}
}

// state returns the current state.
func (h *storeHealth) state() StoreState {
	if h == nil {
		return StoreState{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return StoreState{Known: h.known, Up: h.up, Since: h.since, LastErr: h.lastErr}
}

// down reports whether the last store call found the store unavailable.
func (h *storeHealth) down() bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.known && !h.up
}

// StoreState returns the store's health as the daemon last saw it.
func (d *Daemon) StoreState() StoreState { return d.storeHealth.state() }

// onStoreError is the store's OnError hook: it counts
// samlkeyd_store_errors_total{op} and updates the store's health.
func (d *Daemon) onStoreError(op string, err error) {
	d.metrics.storeErrors.WithLabelValues(op).Inc()
	d.storeHealth.failed(d.now(), err)
}

// storeCall records the outcome of a store call the daemon made itself and
// reports whether the store answered after being down.
func (d *Daemon) storeCall(err error) (recovered bool) {
	if err == nil {
		return d.storeHealth.ok(d.now())
	}
	d.storeHealth.failed(d.now(), err)
	return false
}
