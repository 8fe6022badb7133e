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
// Store faults are survived: the last snapshot keeps serving, a reload the
// store could not build waits for it (retried with backoff), a daemon
// started without its store serves not-ready until it answers, and
// shutdown is bounded (ShutdownBound).
//
// Files by role: daemon.go (New, Prepare, swap, Run, shutdown), storehealth.go
// and retry.go (the store's health, the reload waiting for it, backoff),
// replay.go (replay ids shared through the store), snapshot.go and build.go
// (building a snapshot, step by step), checks.go and idps.go (record
// references of protocol profiles and IdPs), http.go, auth.go and api.go
// (routes, middleware, the /api/v1 handlers), loops.go (background loops
// and the rotation schedule), alerts.go (every alert rule and its
// de-duplication key), expiry.go, metrics.go, selftest.go, rotation.go,
// fetches.go, idpmeta.go and listeners.go (the connection cap and the
// metrics listener).
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
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// Options are the daemon's dependencies. Nil fields take the defaults noted.
type Options struct {
	Config     *config.Config
	ConfigFile string                         // watched for changes when set
	LoadConfig func() (*config.Config, error) // re-reads the config on reload; nil = config unchanged
	Store      Store
	// OpenStore, with a nil Store, opens the store inside Run, retried with
	// backoff while it fails with store.ErrUnavailable, so that the HTTP
	// surface (not ready) is up while the store is unreachable. onError is
	// the daemon's hook for store.Options.OnError.
	OpenStore    func(ctx context.Context, onError func(op string, err error)) (Store, error)
	Logger       *slog.Logger         // nil = discard
	Now          func() time.Time     // nil = time.Now
	Rand         io.Reader            // nil = crypto/rand
	PollInterval time.Duration        // store change-counter poll; 0 = 2s
	Registry     *prometheus.Registry // nil = a new registry
	HTTPClient   *http.Client         // transport for IdP metadata_url fetches (idpmeta rules still apply); nil = idpmeta.NewTransport
	// MetricsListener, when set, is where Run serves /metrics (alone); the
	// main listener then answers 404 for it. Run closes it at shutdown.
	MetricsListener net.Listener
}

// Daemon serves one snapshot at a time. All methods are safe for concurrent
// use.
type Daemon struct {
	opts     Options // opts.Store is set once, before the first snapshot
	log      *slog.Logger
	snap     atomic.Pointer[Snapshot]
	registry *prometheus.Registry
	metrics  *metrics

	// Set with the store (attach), before the first snapshot is stored.
	checks     *mtls.Scheduler
	alerts     *alert.Dispatcher // sinks swapped on config reload; ledger and metrics kept
	components *components       // every component's state: the serving snapshot's and the store's
	configSum  [32]byte          // the config file's content hash when it was last loaded
	replay     sp.ReplayCache    // assertion IDs seen, kept across snapshots (shared by replicas when the store can)

	idpMeta     *idpmeta.Cache   // IdP metadata fetched from metadata_url
	metaFetcher *idpmeta.Fetcher // fetches metadata_url
	storeHealth *storeHealth     // samlkeyd_store_up and the store's state
	retry       reloadRetry      // a reload waiting for the store to come back
	expiryKick  chan struct{}    // a store change asks the expiry loop to scan now

	pollFailed pollFailure  // touched by pollOnce only (one goroutine)
	fetches    fetchLog     // metadata fetches by IdP last written to the store
	decrypts   decryptBurst // opaque decryption failures by IdP, for the decrypt_failures alert

	buildMu   sync.Mutex         // serialises builds so a stale build never replaces a newer one
	tokenKeys tokenKeys          // closes token keys no snapshot serves (tokenkeys.go)
	rotations *rotationScheduler // the rotation cron, re-armed from each new config

	pages pages      // the status pages' handler, caches and build state (pages.go)
	fed   fedSources // idp_sources, kept across snapshots (sources.go)

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
// It needs Options.Store; serve uses Prepare, which waits for the store.
func New(ctx context.Context, o Options) (*Daemon, error) {
	if o.Store == nil {
		return nil, errors.New("daemon: Config and Store are required")
	}
	d, err := Prepare(o)
	if err != nil {
		return nil, err
	}
	d.attach(o.Store)
	if err := d.first(ctx, o.Config); err != nil {
		d.alerts.Close(ctx)
		return nil, err
	}
	d.storeCall(nil) // the first build read the store
	return d, nil
}

// Prepare returns a daemon with no snapshot yet: Run serves HTTP at once
// (/healthz 200, /readyz 503 and every other route 503 not_ready), opens the
// store (Options.OpenStore) and builds the first snapshot, retrying both with
// backoff while the store is unavailable. Any other failure ends Run.
func Prepare(o Options) (*Daemon, error) {
	if o.Config == nil || (o.Store == nil && o.OpenStore == nil) {
		return nil, errors.New("daemon: Config and Store (or OpenStore) are required")
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
		idpMeta: idpmeta.NewCache(), metaFetcher: &idpmeta.Fetcher{Client: o.HTTPClient},
		fetches: fetchLog{last: map[string]recordedFetch{}}, retry: newReloadRetry(),
		expiryKick: make(chan struct{}, 1)}
	d.components = newComponents(d.componentChanged)
	d.metrics = newMetrics(o.Registry, d)
	d.storeHealth = &storeHealth{gauge: d.metrics.storeUp, log: o.Logger,
		changed: func(err error) { d.components.set(KindStore, "store", err, d.now()) }}
	d.rotations = newRotationScheduler(d.scheduledRotate, o.Logger)
	d.configSum = fileSum(o.ConfigFile)
	return d, nil
}

// attach wires the parts that use the store. It runs once, before the
// first snapshot is stored: whoever sees a snapshot sees them.
func (d *Daemon) attach(st Store) {
	o := &d.opts
	o.Store = st
	d.replay = replayCache(st)
	// The sinks come with the first snapshot (swap); until then, the log.
	d.alerts = alert.NewDispatcher(alert.DispatcherOptions{
		Sinks: logSink(o.Logger), Ledger: alert.LedgerFunc(st.ClaimAlert), Logger: o.Logger, Registerer: o.Registry, Now: o.Now,
	})
	d.checks = mtls.NewScheduler(mtls.SchedulerOptions{
		Logger:       o.Logger.With("component", "mtls"),
		Locker:       st,
		Recorder:     mtls.StoreRecorder{Store: st},
		Metrics:      mtls.NewMetrics(o.Registry),
		Jitter:       2 * time.Second,
		Now:          o.Now,
		Rand:         o.Rand,
		OnTransition: d.alertCheckTransition,
		Unavailable:  func(err error) bool { return errors.Is(err, store.ErrUnavailable) },
	})
}

// first builds and swaps in the first snapshot.
func (d *Daemon) first(ctx context.Context, cfg *config.Config) error {
	d.buildMu.Lock()
	defer d.buildMu.Unlock()
	snap, err := d.build(ctx, cfg)
	if err == nil {
		err = d.swap(snap)
	}
	return err
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
// mTLS schedule always, and, when s comes from a newly loaded config, the
// alert sinks and the rotation schedule. A part that cannot be rebuilt
// rejects s and the previous snapshot keeps serving.
func (d *Daemon) swap(s *Snapshot) error {
	prev := d.snap.Load()
	newConfig := prev == nil || prev.Config != s.Config
	if err := d.checks.Update(s.Checks); err != nil {
		return fmt.Errorf("schedule mTLS checks: %w", err)
	}
	if newConfig && s.sinks != nil { // nil when the alerts component failed: the previous sinks stay
		d.alerts.SetSinks(s.sinks)
	}
	if newConfig {
		d.rotations.arm(s.Config)
		d.warnFetchRecognition(s.Config)
	}
	for _, w := range s.Metadata.Warnings() {
		d.log.Warn("metadata", "warning", w)
	}
	d.sourcesSwapped(s)
	d.snap.Store(s)
	d.tokenKeys.swapped(prev, s)
	d.pagesSwapped(prev, s)
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
		if err = d.swap(snap); err != nil {
			snap.cache.closeOpened() // never served: its new token keys too
		}
	}
	if err != nil {
		d.metrics.buildFailures.WithLabelValues(trigger).Inc()
		d.noteBuildFailure(trigger, err)
		if !errors.Is(err, store.ErrUnavailable) { // the alert ledger is in the store too; samlkeyd_store_up says it
			d.alertSnapshotFailed(ctx, trigger, err)
			// The last good core keeps serving; the failure is visible
			// until a core builds again.
			d.components.set(KindCore, "core", err, d.now())
		}
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

// drainTimeout bounds how long shutdown waits for in-flight HTTP requests.
const drainTimeout = 10 * time.Second

// ShutdownBound is how long Run may take to return once its ctx is done,
// whatever the store does: the HTTP drain (10 s) runs while the loops, the
// mTLS checks and the rotation schedule are cancelled, and a store call
// that is cut short ends within its deadline (store_timeout; a lock held on
// PostgreSQL is released within one more). 15 s with the default
// store_timeout of 5 s.
func ShutdownBound(storeTimeout time.Duration) time.Duration {
	if storeTimeout <= 0 {
		storeTimeout = store.DefaultTimeout
	}
	return drainTimeout + storeTimeout
}

// Run serves HTTP on ln until ctx is done, then shuts down gracefully within
// ShutdownBound. A daemon from Prepare first opens the store and builds its
// first snapshot (not ready meanwhile). Then Run rebuilds the snapshot when
// the store's change counter moves, the config file changes, SIGHUP arrives,
// or the metadata's refresh time comes.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	// SIGHUP is ours from the start: unhandled, it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 2)
	go func() { served <- fmt.Errorf("serve %s: %w", ln.Addr(), srv.Serve(ln)) }()
	msrv := d.metricsServer(srv) // nil without Options.MetricsListener
	d.serveMetrics(msrv, served)
	var loops sync.WaitGroup
	ready := make(chan error, 1)
	loops.Add(1)
	go func() { defer loops.Done(); ready <- d.becomeReady(runCtx, hup) }()
	var runErr error
wait:
	for {
		select {
		case err := <-served:
			runErr = err
			break wait
		case <-ctx.Done():
			break wait
		case err := <-ready:
			if err != nil {
				runErr = err
				break wait
			}
			ready = nil
			d.startLoops(runCtx, hup, &loops)
		}
	}
	cancel()
	if err := d.shutdown(srv, msrv, &loops); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// startLoops starts the background loops under ctx, each counted in wg.
func (d *Daemon) startLoops(ctx context.Context, hup <-chan os.Signal, wg *sync.WaitGroup) {
	d.rotations.start(ctx)
	d.checks.Start()
	loops := []func(context.Context){d.pollLoop, d.metadataLoop, d.retryLoop, d.idpMetadataLoop, d.expiryLoop, d.replayPurgeLoop, d.sourcesLoop, d.tokenLoop,
		func(ctx context.Context) { d.hupLoop(ctx, hup) }}
	if d.opts.ConfigFile != "" && d.opts.LoadConfig != nil {
		loops = append(loops, d.watchConfig)
	}
	for _, loop := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
}

// shutdown drains HTTP, the metrics listener's server (msrv, nil when
// none) last (at most drainTimeout, then closes the remaining connections) while the loops, checks and rotations, already cancelled,
// return; then it closes the alert dispatcher. It gives up waiting at
// ShutdownBound and says what it left behind.
func (d *Daemon) shutdown(srv, msrv *http.Server, loops *sync.WaitGroup) error {
	bound := ShutdownBound(d.opts.Config.StoreTimeout)
	deadline, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	drained := make(chan error, 1)
	go func() {
		dctx, cancel := context.WithTimeout(deadline, drainTimeout)
		defer cancel()
		err := srv.Shutdown(dctx)
		if err != nil {
			_ = srv.Close()
			err = fmt.Errorf("graceful shutdown: %w (connections closed)", err)
		}
		if msrv != nil { // after the API has drained; metrics stay scrapeable meanwhile
			if merr := msrv.Shutdown(dctx); merr != nil {
				_ = msrv.Close()
			}
		}
		drained <- err
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		loops.Wait()
		if d.checks != nil {
			<-d.checks.Shutdown().Done()
		}
		d.rotations.stop()
		if d.alerts != nil {
			d.alerts.Close(deadline)
		}
	}()
	var err error
	for pending := 2; pending > 0; pending-- {
		select {
		case err = <-drained:
			drained = nil
		case <-stopped:
			stopped = nil
		case <-deadline.Done():
			d.log.Error("shutdown bound reached; returning with work still running", "bound", bound,
				"http_drained", drained == nil, "loops_stopped", stopped == nil)
			return fmt.Errorf("shutdown: not done within %v", bound)
		}
	}
	d.closeTokens() // nothing signs any more: log the token sessions out
	return err
}

// becomeReady opens the store (Options.OpenStore) unless it is open and
// builds the first snapshot unless there is one, each attempt retried with
// backoff while the store is unavailable. Each attempt re-reads the config
// (a failed read keeps the last good one), so an edit made meanwhile is what
// starts. It returns nil once ready or when ctx is done; any other failure
// is returned (nothing to serve).
func (d *Daemon) becomeReady(ctx context.Context, hup <-chan os.Signal) error {
	if d.snap.Load() != nil {
		return nil
	}
	cfg := d.opts.Config
	b := newBackoff()
	for attempt := 1; ; attempt++ {
		err := d.tryReady(ctx, cfg)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		wait := b.next()
		d.log.Warn("not ready: the store is unavailable; retrying", "attempt", attempt, "retry_in", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-hup:
			t.Stop()
		}
		if d.opts.LoadConfig != nil {
			if c, err := d.opts.LoadConfig(); err != nil {
				d.metrics.reloadFailures.WithLabelValues("config").Inc()
				d.log.Error("config reload rejected; starting with the last good config", "err", err)
			} else {
				cfg = c
			}
		}
	}
}

// tryReady is one attempt of becomeReady.
func (d *Daemon) tryReady(ctx context.Context, cfg *config.Config) error {
	if d.opts.Store == nil {
		st, err := d.opts.OpenStore(ctx, d.onStoreError)
		d.storeCall(err)
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		d.attach(st)
	}
	if err := d.first(ctx, cfg); err != nil {
		d.storeCall(err)
		return fmt.Errorf("first snapshot: %w", err)
	}
	d.storeCall(nil)
	d.log.Info("ready: first snapshot built", "store_version", d.snap.Load().StoreVersion)
	return nil
}
