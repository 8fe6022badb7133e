// Package daemon wires samlkeyd together: it builds the immutable key
// snapshot from the config and the store, swaps it in atomically, rebuilds it
// when the config file, a signal or the store changes, and serves the HTTP
// surface (metadata, certificates, health, metrics and the API) from it.
//
// One reload rule: everything follows the serving snapshot. The snapshot
// holds the config; the mTLS schedule is updated at every swap, and the
// alert sinks and the rotation schedule are rebuilt whenever a newly loaded
// config is swapped in. A request reads exactly one snapshot: the one the
// middleware loaded.
//
// Files by role: daemon.go (New, swap, Run), snapshot.go and build.go
// (building a snapshot, step by step), checks.go and idps.go (record
// references of protocol profiles and IdPs), http.go, auth.go and api.go
// (routes, middleware, the /api/v1 handlers), loops.go (background loops
// and the rotation schedule), alerts.go (every alert rule and its
// de-duplication key), expiry.go, metrics.go, selftest.go, rotation.go,
// fetches.go and idpmeta.go.
package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
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

	checks     *mtls.Scheduler
	alerts     *alert.Dispatcher // sinks swapped on config reload; ledger and metrics kept
	components *components       // every component's state: the serving snapshot's and the store's
	configSum  [32]byte          // the config file's content hash when it was last loaded

	replay      sp.ReplayCache   // assertion IDs seen, kept across snapshots
	idpMeta     *idpmeta.Cache   // IdP metadata fetched from metadata_url
	metaFetcher *idpmeta.Fetcher // fetches metadata_url

	pollFailed pollFailure // touched by pollOnce only (one goroutine)
	fetches    fetchLog    // metadata fetches by IdP last written to the store

	buildMu   sync.Mutex         // serialises builds so a stale build never replaces a newer one
	rotations *rotationScheduler // the rotation cron, re-armed from each new config

	loaded func(*Snapshot) // test hook: called with each snapshot a request loads
	opened func(id string) // test hook: called with each record a build opens
}

// onOpen counts a record opened by a build (test hook).
func (d *Daemon) onOpen(id string) {
	if d.opened != nil {
		d.opened(id)
	}
}

// logSink is the alert sinks before any config's are built: the log.
func logSink(log *slog.Logger) []alert.Sink {
	return []alert.Sink{{Name: "log", Notifier: alert.NewLogSink(log)}}
}

// fileSum is the SHA-256 of a file's content (zero for "" or an unreadable
// file).
func fileSum(path string) [32]byte {
	if path == "" {
		return [32]byte{}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(data)
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
	d := &Daemon{opts: o, log: o.Logger, registry: o.Registry,
		replay: sp.NewMemoryReplayCache(100_000), idpMeta: idpmeta.NewCache(),
		metaFetcher: &idpmeta.Fetcher{Client: o.HTTPClient},
		fetches:     fetchLog{last: map[string]recordedFetch{}}}
	d.components = newComponents(d.componentChanged)
	d.metrics = newMetrics(o.Registry, d)
	d.rotations = newRotationScheduler(d.rotate, o.Logger)
	d.configSum = fileSum(o.ConfigFile)
	// The sinks come with the first snapshot (swap); until then, the log.
	d.alerts = alert.NewDispatcher(alert.DispatcherOptions{
		Sinks: logSink(o.Logger), Ledger: alert.LedgerFunc(o.Store.ClaimAlert), Logger: o.Logger, Registerer: o.Registry, Now: o.Now,
	})
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
	// The first build read the store; whatever watches it from now on
	// reports through SetComponent(KindStore, "store", err).
	d.components.set(KindStore, "store", nil, d.now())
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

// Registry returns the Prometheus registry the daemon's series live on.
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

func (d *Daemon) build(ctx context.Context, cfg *config.Config) (*Snapshot, error) {
	return Build(ctx, cfg, d.opts.Store, BuildOptions{
		Previous:    d.snap.Load(),
		OnOpen:      d.onOpen,
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

// swap puts s in service with the parts that live beside the snapshot: the
// mTLS schedule (its healthy checks) always, and, when s comes from a newly
// loaded config, the alert sinks (unless that component failed: the
// previous sinks stay) and the rotation schedule. Then the components'
// states are recorded (and alerted on).
func (d *Daemon) swap(s *Snapshot) error {
	prev := d.snap.Load()
	newConfig := prev == nil || prev.Config != s.Config
	if err := d.checks.Update(s.Checks); err != nil {
		return fmt.Errorf("schedule mTLS checks: %w", err)
	}
	if newConfig && s.sinks != nil {
		d.alerts.SetSinks(s.sinks)
	}
	if newConfig {
		d.rotations.arm(s.Config)
	}
	for _, w := range s.Metadata.Warnings() {
		d.log.Warn("metadata", "warning", w)
	}
	d.snap.Store(s)
	d.metrics.builds.Inc()
	d.components.replace(s.Components, snapshotKinds)
	return nil
}

// Rebuild builds a snapshot from cfg (nil = the serving snapshot's config)
// and swaps it in. On failure the previous snapshot keeps serving, with its
// config; the error is returned for the caller to log.
func (d *Daemon) Rebuild(ctx context.Context, trigger string, cfg *config.Config) error {
	d.buildMu.Lock()
	defer d.buildMu.Unlock()
	if cfg == nil {
		cfg = d.snap.Load().Config
	}
	snap, err := d.build(ctx, cfg)
	if err == nil {
		err = d.swap(snap)
	}
	if err != nil {
		d.metrics.buildFailures.WithLabelValues(trigger).Inc()
		d.alertSnapshotFailed(ctx, trigger, err)
		// The last good core keeps serving; the failure is visible until
		// a core builds again.
		d.components.set(KindCore, "core", err, d.now())
		d.renewMetadata()
		return fmt.Errorf("rebuild snapshot (%s): %w; the previous snapshot keeps serving", trigger, err)
	}
	return nil
}

// renewMetadata renews the serving snapshot's metadata from its own core
// when it is due: the SP's metadata never goes stale whatever else fails
// (a rebuild that does not build, a store that does not answer). It takes
// no lock and reads no store; a snapshot swapped in meanwhile wins.
func (d *Daemon) renewMetadata() {
	s := d.snap.Load()
	if s == nil || !metadataDue(s.Metadata, d.now()) {
		return
	}
	renewed, err := s.withRenewedMetadata(d.now(), d.log)
	if err != nil {
		d.log.Error("metadata not renewed", "err", err)
		return
	}
	if d.snap.CompareAndSwap(s, renewed) {
		d.log.Info("metadata renewed from the serving keys", "valid_until", renewed.Metadata.ValidUntil())
	}
}

// metadataLoop renews the metadata on its timer, apart from the store
// poll and its rebuilds, so nothing they wait on can make it stale.
func (d *Daemon) metadataLoop(ctx context.Context) {
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			func() {
				defer d.recoverJob("metadata renewal")
				d.renewMetadata()
			}()
		}
	}
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

	d.rotations.start(loopCtx)
	defer d.rotations.stop()
	wg.Add(4)
	go func() { defer wg.Done(); d.reloadLoop(loopCtx) }()
	go func() { defer wg.Done(); d.metadataLoop(loopCtx) }()
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
