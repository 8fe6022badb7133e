// Package daemon wires samlkeyd together: it builds the immutable key
// snapshot from the config and the store, swaps it in atomically, rebuilds it
// when the config file, a signal or the store changes, and serves the HTTP
// surface (metadata, certificates, health, metrics and the API) from it.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
)

// Options are the daemon's dependencies. Nil fields take the defaults noted.
type Options struct {
	Config       *config.Config
	ConfigFile   string                         // watched for changes when set
	LoadConfig   func() (*config.Config, error) // re-reads the config on reload; nil = config unchanged
	Store        Store
	Logger       *slog.Logger         // nil = discard
	Now          func() time.Time     // nil = time.Now
	Rand         io.Reader            // nil = crypto/rand
	PollInterval time.Duration        // store change-counter poll; 0 = 2s
	Registry     *prometheus.Registry // nil = a new registry
	HTTPClient   *http.Client         // transport for IdP metadata_url fetches (idpmeta rules still apply); nil = idpmeta.NewTransport
}

// Daemon serves one snapshot at a time. All methods are safe for concurrent
// use.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	snap     atomic.Pointer[Snapshot]
	registry *prometheus.Registry
	metrics  *metrics

	metadataHandler *metadata.Handler
	checks          *mtls.Scheduler
	alerts          *alert.Dispatcher

	replay      sp.ReplayCache   // assertion IDs seen, kept across snapshots
	idpMeta     *idpmeta.Cache   // IdP metadata fetched from metadata_url
	metaFetcher *idpmeta.Fetcher // fetches metadata_url

	pollFailed pollFailure // touched by pollOnce only (one goroutine)
	fetches    fetchLog    // metadata fetches by IdP last written to the store

	buildMu sync.Mutex // serialises builds so a stale build never replaces a newer one
	cfg     *config.Config
}

// New builds the first snapshot and returns a daemon ready to serve it. A
// first snapshot that does not build is an error: there is nothing to serve.
func New(ctx context.Context, o Options) (*Daemon, error) {
	if o.Config == nil || o.Store == nil {
		return nil, errors.New("daemon: Config and Store are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	d := &Daemon{opts: o, log: o.Logger, registry: o.Registry, cfg: o.Config,
		replay: sp.NewMemoryReplayCache(100_000), idpMeta: idpmeta.NewCache(),
		metaFetcher: &idpmeta.Fetcher{Client: o.HTTPClient},
		fetches:     fetchLog{last: map[string]recordedFetch{}}}
	d.metrics = newMetrics(o.Registry, d)
	d.metadataHandler = metadata.NewHandler(d, o.Logger)
	alerts, err := newAlerts(o.Config.Alerts, o.Store, o)
	if err != nil {
		return nil, err
	}
	d.alerts = alerts
	d.checks = mtls.NewScheduler(mtls.SchedulerOptions{
		Logger:       o.Logger.With("component", "mtls"),
		Locker:       o.Store,
		Recorder:     mtls.StoreRecorder{Store: o.Store},
		Metrics:      mtls.NewMetrics(o.Registry),
		Jitter:       2 * time.Second,
		Now:          o.Now,
		Rand:         o.Rand,
		OnTransition: d.alertCheckTransition,
	})
	snap, err := d.build(ctx, o.Config)
	if err == nil {
		err = d.swap(snap)
	}
	if err != nil {
		d.alerts.Close(ctx)
		return nil, err
	}
	return d, nil
}

func (d *Daemon) now() time.Time {
	if d.opts.Now != nil {
		return d.opts.Now()
	}
	return time.Now()
}

// Snapshot returns the snapshot being served.
func (d *Daemon) Snapshot() *Snapshot { return d.snap.Load() }

// Published implements metadata.Source.
func (d *Daemon) Published() *metadata.Published {
	if s := d.snap.Load(); s != nil {
		return s.Metadata
	}
	return nil
}

// Registry returns the Prometheus registry the daemon's series live on.
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

func (d *Daemon) build(ctx context.Context, cfg *config.Config) (*Snapshot, error) {
	return Build(ctx, cfg, d.opts.Store, BuildOptions{
		Now:         d.now,
		Rand:        d.opts.Rand,
		Logger:      d.log,
		Replay:      d.replay,
		IdPMetadata: d.idpMeta.Get,
		OnDeprecated: func(idp, alg string) {
			d.metrics.deprecatedAlgos.WithLabelValues(idp, alg, "outbound").Inc()
		},
		OnDeprecatedInbound: func(idp, alg string) {
			d.metrics.deprecatedAlgos.WithLabelValues(idp, alg, "inbound").Inc()
		},
		OnDeprecatedEncryption: func(idp, alg string) {
			d.metrics.deprecatedEnc.WithLabelValues(idp, alg).Inc()
		},
	})
}

func (d *Daemon) swap(s *Snapshot) error {
	if err := d.checks.Update(s.Checks); err != nil {
		return fmt.Errorf("schedule mTLS checks: %w", err)
	}
	for _, w := range s.Metadata.Warnings() {
		d.log.Warn("metadata", "warning", w)
	}
	d.snap.Store(s)
	d.metrics.builds.Inc()
	return nil
}

// Rebuild builds a snapshot from cfg (nil = the current config) and swaps it
// in. On failure the previous snapshot keeps serving; the error is returned
// for the caller to log.
func (d *Daemon) Rebuild(ctx context.Context, trigger string, cfg *config.Config) error {
	d.buildMu.Lock()
	defer d.buildMu.Unlock()
	if cfg == nil {
		cfg = d.cfg
	}
	snap, err := d.build(ctx, cfg)
	if err == nil {
		err = d.swap(snap)
	}
	if err != nil {
		d.metrics.buildFailures.WithLabelValues(trigger).Inc()
		d.alertSnapshotFailed(ctx, trigger, err)
		return fmt.Errorf("rebuild snapshot (%s): %w; the previous snapshot keeps serving", trigger, err)
	}
	d.cfg = cfg
	return nil
}

// Run serves HTTP on ln until ctx is done, then shuts down gracefully
// (in-flight requests finish). Meanwhile it rebuilds the snapshot when the
// store's change counter moves, the config file changes, SIGHUP arrives, or
// the metadata's refresh time comes.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	loopCtx, stopLoops := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopLoops()

	rot := d.rotationSchedule(loopCtx)
	defer func() { <-rot.Stop().Done() }()
	wg.Add(3)
	go func() { defer wg.Done(); d.reloadLoop(loopCtx) }()
	go func() { defer wg.Done(); d.idpMetadataLoop(loopCtx) }()
	go func() { defer wg.Done(); d.expiryLoop(loopCtx) }()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.alerts.Close(closeCtx)
	}()
	if d.opts.ConfigFile != "" && d.opts.LoadConfig != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.watchConfig(loopCtx) }()
	}

	d.checks.Start()
	defer func() { <-d.checks.Stop().Done() }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	return nil
}

// reloadLoop polls the store's change counter, listens for SIGHUP, and
// re-renders metadata before its validUntil lapses.
func (d *Daemon) reloadLoop(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	poll := time.NewTicker(d.opts.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.reloadConfig(ctx, "sighup")
		case <-poll.C:
			d.pollOnce(ctx)
		}
	}
}

// expiryLoop scans for expiring certificates now and every hour.
func (d *Daemon) expiryLoop(ctx context.Context) {
	t := time.NewTicker(expiryScanEvery)
	defer t.Stop()
	for {
		d.scanExpiry(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// idpMetadataLoop fetches IdP metadata_url documents now and whenever
// they are due.
func (d *Daemon) idpMetadataLoop(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		d.refreshIdPMetadata(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pollOnce rebuilds when the store changed since the serving snapshot, or
// when the snapshot's metadata is due for re-rendering.
func (d *Daemon) pollOnce(ctx context.Context) {
	defer d.recoverJob("store poll")
	s := d.snap.Load()
	n, err := d.opts.Store.ChangeCounter(ctx)
	if err != nil {
		d.log.Warn("poll store change counter", "err", err)
		return
	}
	trigger := ""
	switch {
	case s == nil || n != s.StoreVersion:
		trigger = "store"
	case !s.Metadata.RefreshAt().IsZero() && !d.now().Before(s.Metadata.RefreshAt()):
		trigger = "refresh"
	}
	if trigger == "" {
		return
	}
	// A change that did not build is not retried on every poll: only when
	// the store changes again, or a minute later (the refresh case).
	if f := d.pollFailed; f.version == n && d.now().Before(f.at.Add(time.Minute)) {
		return
	}
	if err := d.Rebuild(ctx, trigger, nil); err != nil {
		d.pollFailed = pollFailure{version: n, at: d.now()}
		d.log.Error("snapshot rejected", "trigger", trigger, "err", err)
		return
	}
	d.pollFailed = pollFailure{}
	d.log.Info("snapshot rebuilt", "trigger", trigger, "store_version", n)
}

// pollFailure remembers the store version whose poll-triggered build failed.
type pollFailure struct {
	version int64
	at      time.Time
}

// reloadConfig re-reads the config and rebuilds; a config that does not load
// or does not build is rejected and the previous snapshot keeps serving.
func (d *Daemon) reloadConfig(ctx context.Context, trigger string) {
	defer d.recoverJob("config reload")
	if d.opts.LoadConfig == nil {
		if err := d.Rebuild(ctx, trigger, nil); err != nil {
			d.log.Error("snapshot rejected", "trigger", trigger, "err", err)
		}
		return
	}
	cfg, err := d.opts.LoadConfig()
	if err != nil {
		d.metrics.reloadFailures.WithLabelValues("config").Inc()
		d.log.Error("config reload rejected; the previous config keeps serving", "trigger", trigger, "err", err)
		return
	}
	d.applyConfig(ctx, trigger, cfg)
}

func (d *Daemon) applyConfig(ctx context.Context, trigger string, cfg *config.Config) {
	if err := d.Rebuild(ctx, trigger, cfg); err != nil {
		d.metrics.reloadFailures.WithLabelValues("snapshot").Inc()
		d.log.Error("config reload rejected", "trigger", trigger, "err", err)
		return
	}
	d.log.Info("config reloaded", "trigger", trigger)
}

// recoverJob keeps a background loop alive through a panic in one job.
func (d *Daemon) recoverJob(job string) {
	if r := recover(); r != nil {
		d.log.Error("background job panicked; continuing", "job", job, "panic", fmt.Sprint(r))
	}
}

// watchConfig follows the config file (including rename-over, delete and
// re-create, and symlink swaps) until ctx is done.
func (d *Daemon) watchConfig(ctx context.Context) {
	err := config.Watch(ctx, config.WatchOptions{
		File:     d.opts.ConfigFile,
		Interval: d.opts.PollInterval,
		Load:     d.opts.LoadConfig,
		// A change between the first load and the watch being set up
		// would be missed: re-read once the watch is in place.
		Ready:    func() { d.reloadConfig(ctx, "config file") },
		OnChange: func(cfg *config.Config) { d.applyConfig(ctx, "config file", cfg) },
		OnError: func(err error) {
			d.metrics.reloadFailures.WithLabelValues("config").Inc()
			d.log.Error("config reload rejected; the previous config keeps serving", "file", d.opts.ConfigFile, "err", err)
		},
	})
	if err != nil && ctx.Err() == nil {
		d.log.Error("config watch stopped; send SIGHUP to reload", "file", d.opts.ConfigFile, "err", err)
	}
}
