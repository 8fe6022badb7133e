package mtls

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Skip reasons, the values of the reason label of the skip counter.
const (
	SkipStillRunning = "still_running" // the previous run of the check had not finished
	SkipOtherReplica = "other_replica" // another replica holds the check's lock
	// SkipStoreUnavailable: the store that holds the check's lock did not
	// answer; the check's up and duration series are removed until it runs.
	SkipStoreUnavailable = "store_unavailable"
)

// Metrics are the Prometheus series of the checks. A nil *Metrics records
// nothing. NewMetrics on a registry that already holds them reuses them.
type Metrics struct {
	up       *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	notAfter *prometheus.GaugeVec
	skipped  *prometheus.CounterVec
}

// NewMetrics creates the series and registers them on reg (nil = not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "samlkeyd_mtls_check_up",
			Help: "1 if the last run of the outbound mTLS check succeeded, 0 if it failed; absent while its ticks are skipped because the store is unavailable (state unknown).",
		}, []string{"check"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "samlkeyd_mtls_check_duration_seconds",
			Help: "Duration of each stage (dns, connect, tls, http, total) of the last run of the check.",
		}, []string{"check", "stage"}),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "samlkeyd_mtls_server_cert_not_after_timestamp_seconds",
			Help: "Unix time the leaf certificate the server presented in the last run expires.",
		}, []string{"check"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_mtls_check_skipped_total",
			Help: "Scheduled runs skipped, by reason: still_running (the previous run had not finished), other_replica (another replica ran it) or store_unavailable (the store holding the lock did not answer).",
		}, []string{"check", "reason"}),
	}
	if reg != nil {
		m.up = register(reg, m.up)
		m.duration = register(reg, m.duration)
		m.notAfter = register(reg, m.notAfter)
		m.skipped = register(reg, m.skipped)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same name, so a daemon that rebuilds its Metrics keeps its series.
// Any other registration error is a programming error and panics, as
// MustRegister does.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Errorf("register mtls metrics: %w", err))
}

func (m *Metrics) observe(r *Result) {
	if m == nil || r == nil {
		return
	}
	up := 0.0
	if r.OK {
		up = 1
	}
	m.up.WithLabelValues(r.Check).Set(up)
	m.duration.DeletePartialMatch(prometheus.Labels{"check": r.Check})
	for stage, d := range r.Stages {
		m.duration.WithLabelValues(r.Check, stage).Set(d.Seconds())
	}
	if len(r.ServerChain) > 0 {
		m.notAfter.WithLabelValues(r.Check).Set(float64(r.ServerChain[0].NotAfter.Unix()))
	}
}

func (m *Metrics) skip(check, reason string) {
	if m == nil {
		return
	}
	m.skipped.WithLabelValues(check, reason).Inc()
}

// unknown drops the check's up and duration series: its state is unknown
// (a tick skipped because the store was unavailable), which an absent
// series says and a stale value would hide.
func (m *Metrics) unknown(check string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"check": check}
	m.up.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
}

// forget drops the series of a check that is no longer configured.
func (m *Metrics) forget(check string) {
	if m == nil {
		return
	}
	l := prometheus.Labels{"check": check}
	m.up.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.notAfter.DeletePartialMatch(l)
	m.skipped.DeletePartialMatch(l)
}
