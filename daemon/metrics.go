package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/samlkeyd/samlkeyd/internal/buildinfo"
)

// metrics are the daemon's own Prometheus series; packages with their own
// series (mtls, alert) register on the same registry.
type metrics struct {
	requests        *prometheus.CounterVec
	builds          prometheus.Counter
	buildFailures   *prometheus.CounterVec
	reloadFailures  *prometheus.CounterVec
	deprecatedAlgos *prometheus.CounterVec
	deprecatedEnc   *prometheus.CounterVec
	storeUp         prometheus.Gauge
	storeErrors     *prometheus.CounterVec
	replayPurged    prometheus.Counter
	responseFails   *prometheus.CounterVec
	rotationSkipped *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, d *Daemon) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		builds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samlkeyd_snapshot_builds_total",
			Help: "Key snapshots built and swapped in.",
		}),
		buildFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_snapshot_build_failures_total",
			Help: "Key snapshots that failed to build and were rejected (the previous one keeps serving), by trigger.",
		}, []string{"trigger"}),
		reloadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_config_reload_failures_total",
			Help: "Config reloads rejected (unreadable, empty or invalid file, or a snapshot that did not build).",
		}, []string{"reason"}),
		deprecatedAlgos: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_deprecated_signature_algorithm_uses_total",
			Help: "Signatures with a deprecated algorithm (rsa-sha1, sha1 digest), by IdP and direction (outbound: ours to the IdP; inbound: the IdP's, with allow_sha1).",
		}, []string{"idp", "algorithm", "direction"}),
		deprecatedEnc: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_deprecated_encryption_uses_total",
			Help: "Encrypted assertions, IDs and attributes decrypted with a CBC content algorithm (no integrity), by IdP.",
		}, []string{"idp", "algorithm"}),
		responseFails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_response_failures_total",
			Help: "SAMLResponses refused by POST /api/v1/responses, by IdP (empty when the name is no configured IdP) and failed check.",
		}, []string{"idp", "check"}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "samlkeyd_store_up",
			Help: "1 if the last store call answered (the poll reads the store every poll interval), 0 if the store was unavailable (timeout or connection failure).",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_store_errors_total",
			Help: "Store calls that failed for a reason other than the caller's input, by operation (change_counter, record_replay, open, with_lock, …).",
		}, []string{"op"}),
		replayPurged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "samlkeyd_replay_ids_purged_total",
			Help: "Expired replay ids (accepted assertion ids) deleted from the store.",
		}),
		rotationSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "samlkeyd_rotation_skipped_total",
			Help: "Rotation runs skipped, by use and reason (other_replica: another replica held the rotation lock and ran it).",
		}, []string{"use", "reason"}),
	}
	reg.MustRegister(m.requests, m.builds, m.buildFailures, m.reloadFailures, m.deprecatedAlgos, m.deprecatedEnc,
		m.storeUp, m.storeErrors, m.replayPurged, m.responseFails, m.rotationSkipped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		snapshotCollector{d: d}, componentCollector{c: d.components}, buildinfo.Read().Collector())
	return m
}

// snapshotCollector reports facts of the current snapshot at scrape time, so
// the series always describe the snapshot being served.
type snapshotCollector struct{ d *Daemon }

var (
	descSnapshotAge = prometheus.NewDesc("samlkeyd_snapshot_age_seconds",
		"Seconds since the serving key snapshot was built.", nil, nil)
	descSnapshotBuilt = prometheus.NewDesc("samlkeyd_snapshot_built_timestamp_seconds",
		"Unix time the serving key snapshot was built.", nil, nil)
	descNotAfter = prometheus.NewDesc("samlkeyd_certificate_not_after_timestamp_seconds",
		"Unix time the certificate record's leaf certificate expires, by record id, name and use (signing, encryption, mtls, trust, unused).",
		[]string{"id", "name", "use"}, nil)
)

func (snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSnapshotAge
	ch <- descSnapshotBuilt
	ch <- descNotAfter
}

func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.snap.Load()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(descSnapshotAge, prometheus.GaugeValue, c.d.now().Sub(s.Built).Seconds())
	ch <- prometheus.MustNewConstMetric(descSnapshotBuilt, prometheus.GaugeValue, float64(s.Built.UnixNano())/1e9)
	for _, r := range s.Certificates {
		ch <- prometheus.MustNewConstMetric(descNotAfter, prometheus.GaugeValue,
			float64(r.NotAfter.Unix()), r.ID, r.Name, r.Use)
	}
}
