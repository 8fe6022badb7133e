package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/store"
)

// The background loops: store poll (pollLoop), SIGHUP (hupLoop), the retry
// of reloads that waited for the store (retryLoop), config file watch,
// expiry scan, IdP metadata refresh, replay id purge, and the rotation
// schedule. Each recovers from a panic in one job, logs, and keeps going.

// pollLoop polls the store's change counter, which also tells the store's
// health, and re-renders metadata before its validUntil lapses.
func (d *Daemon) pollLoop(ctx context.Context) {
	poll := time.NewTicker(d.opts.PollInterval)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			d.pollOnce(ctx)
		}
	}
}

// hupLoop reloads the config on SIGHUP. It has a goroutine of its own, so a
// poll waiting on a hung store never delays reading the config.
func (d *Daemon) hupLoop(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			d.reloadConfig(ctx, "sighup")
		}
	}
}

// expiryLoop scans for expiring certificates now, every hour, and after
// every store change.
func (d *Daemon) expiryLoop(ctx context.Context) {
	t := time.NewTicker(expiryScanEvery)
	defer t.Stop()
	for {
		d.scanExpiry(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.expiryKick:
		}
	}
}

// scanExpirySoon asks the expiry loop to scan now rather than at the next
// hour: a store change may have added a certificate that expires within a
// threshold. Kicks while a scan is pending are merged.
func (d *Daemon) scanExpirySoon() {
	select {
	case d.expiryKick <- struct{}{}:
	default:
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
// when the snapshot's metadata is due for re-rendering. Its change-counter
// read is the store's health probe (samlkeyd_store_up); when the store
// answers again, a reload waiting for it is retried at once.
func (d *Daemon) pollOnce(ctx context.Context) {
	defer d.recoverJob("store poll")
	s := d.snap.Load()
	n, err := d.opts.Store.ChangeCounter(ctx)
	recovered := d.storeCall(err)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("poll store change counter", "err", err)
		}
		return
	}
	if recovered {
		d.retry.now()
	}
	trigger := ""
	switch {
	case s == nil || n != s.StoreVersion:
		trigger = "store"
	case !s.refreshAt().IsZero() && !d.now().Before(s.refreshAt()):
		trigger = "refresh"
	}
	if trigger == "" {
		return
	}
	// A change that did not build is not retried on every poll: only when
	// the store changes again, or a minute later (the refresh case). One
	// that failed because the store was unavailable is retried at the next
	// poll that reaches the store.
	if f := d.pollFailed; f.version == n && d.now().Before(f.at.Add(time.Minute)) {
		return
	}
	if err := d.Rebuild(ctx, trigger, nil); err != nil {
		if !errors.Is(err, store.ErrUnavailable) {
			d.pollFailed = pollFailure{version: n, at: d.now()}
		}
		if ctx.Err() == nil {
			d.log.Error("snapshot rejected", "trigger", trigger, "err", err)
		}
		return
	}
	d.pollFailed = pollFailure{}
	d.log.Info("snapshot rebuilt", "trigger", trigger, "store_version", n)
	if trigger == "store" {
		d.scanExpirySoon()
	}
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
		d.applyConfig(ctx, trigger, nil)
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

// applyConfig builds cfg (nil: the serving config) and swaps it in. When the
// store is unavailable, now or during the build, the reload waits for it:
// retryLoop retries it with backoff until it builds, fails for another
// reason, or a newer reload replaces it. An edit is never lost to an outage.
func (d *Daemon) applyConfig(ctx context.Context, trigger string, cfg *config.Config) {
	gen := d.retry.input()
	if d.storeHealth.down() {
		d.retry.wait(gen, trigger, cfg)
		d.log.Warn("config reload waits for the store, which is unavailable; retried with backoff", "trigger", trigger)
		return
	}
	d.rebuildFor(ctx, gen, trigger, cfg)
}

// rebuildFor is one attempt of the reload numbered gen.
func (d *Daemon) rebuildFor(ctx context.Context, gen uint64, trigger string, cfg *config.Config) {
	err := d.Rebuild(ctx, trigger, cfg)
	switch {
	case err == nil:
		d.retry.done(gen)
		d.log.Info("config reloaded", "trigger", trigger)
	case ctx.Err() != nil:
	case errors.Is(err, store.ErrUnavailable):
		d.retry.wait(gen, trigger, cfg)
		d.log.Warn("config reload waits for the store; retried with backoff", "trigger", trigger, "err", err)
	default:
		d.retry.done(gen)
		if cfg != nil { // a newly loaded config was rejected
			d.metrics.reloadFailures.WithLabelValues("snapshot").Inc()
		}
		d.log.Error("config reload rejected", "trigger", trigger, "err", err)
	}
}

// retryLoop retries the reload that waits for the store, when its backoff
// is up or as soon as the poll finds the store answering again.
func (d *Daemon) retryLoop(ctx context.Context) {
	for {
		var due <-chan time.Time
		t := time.NewTimer(time.Hour)
		if at, ok := d.retry.due(); ok {
			t.Reset(max(0, time.Until(at)))
			due = t.C
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-d.retry.kick:
		case <-due:
			d.retryOnce(ctx)
		}
		t.Stop()
	}
}

func (d *Daemon) retryOnce(ctx context.Context) {
	defer d.recoverJob("reload retry")
	gen, trigger, cfg, ok := d.retry.take()
	if !ok {
		return
	}
	d.log.Info("retrying the reload that waited for the store", "trigger", trigger)
	d.rebuildFor(ctx, gen, trigger, cfg)
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
		// would be missed: re-read once the watch is in place, if the
		// file's content is not what New loaded (one build at start).
		Ready: func() {
			if fileSum(d.opts.ConfigFile) != d.configSum {
				d.reloadConfig(ctx, "config file")
			}
		},
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

// rotationScheduler runs each use's rotation on its policy's cron schedule,
// in UTC. It is re-armed from every newly loaded config (swap), so a
// schedule change takes effect on reload like everything else.
type rotationScheduler struct {
	rotate func(ctx context.Context, use keys.Use, force bool) ([]lifecycle.Step, error)
	log    *slog.Logger
	cron   *cron.Cron

	mu      sync.Mutex
	ctx     context.Context // the loops' context once started; jobs run under it
	entries map[keys.Use]scheduled
}

// scheduled is one armed cron entry and the spec it was armed with.
type scheduled struct {
	spec string
	id   cron.EntryID
}

func newRotationScheduler(rotate func(context.Context, keys.Use, bool) ([]lifecycle.Step, error), log *slog.Logger) *rotationScheduler {
	return &rotationScheduler{
		rotate:  rotate,
		log:     log,
		cron:    cron.New(cron.WithLocation(time.UTC)),
		ctx:     context.Background(),
		entries: map[keys.Use]scheduled{},
	}
}

// arm schedules each configured use on its policy's schedule: an entry
// whose spec changed is replaced, one no longer configured is removed.
func (s *rotationScheduler) arm(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		spec, sched := "", cron.Schedule(nil)
		if p, ok, err := lifecycle.PolicyOf(cfg, use); ok && err == nil {
			spec, sched = p.Schedule, p.Every
		}
		have, armed := s.entries[use]
		if armed && have.spec == spec {
			continue
		}
		if armed {
			s.cron.Remove(have.id)
			delete(s.entries, use)
		}
		if spec == "" {
			continue
		}
		if sched == nil { // a config built in code and not validated
			s.log.Error("rotation not scheduled", "use", use, "schedule", spec, "err", "schedule not parsed")
			continue
		}
		id := s.cron.Schedule(sched, cron.FuncJob(func() { s.run(use) }))
		s.entries[use] = scheduled{spec: spec, id: id}
	}
}

func (s *rotationScheduler) run(use keys.Use) {
	s.mu.Lock()
	ctx := s.ctx
	s.mu.Unlock()
	if _, err := s.rotate(ctx, use, false); err != nil {
		s.log.Error("rotation failed", "use", use, "err", err)
	}
}

// armed returns each scheduled use's spec and next run.
func (s *rotationScheduler) armed() map[keys.Use]cron.Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[keys.Use]cron.Entry{}
	for use, e := range s.entries {
		out[use] = s.cron.Entry(e.id)
	}
	return out
}

// start runs the schedule until stop; jobs run under ctx.
func (s *rotationScheduler) start(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.cron.Start()
}

// stop stops the schedule and waits for a running rotation to return.
func (s *rotationScheduler) stop() { <-s.cron.Stop().Done() }
