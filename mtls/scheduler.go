package mtls

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Locker runs fn only on the replica that holds the named lock. ran is
// false, with a nil error, when another holder has it. Implementations MUST
// be safe for concurrent use. The store's PostgreSQL advisory lock satisfies
// it; MemoryLocker serves a single process.
type Locker interface {
	WithLock(ctx context.Context, name string, fn func(ctx context.Context) error) (ran bool, err error)
}

// Recorder persists check results. LastCheck returns nil, nil when the check
// has no result yet. Implementations MUST be safe for concurrent use and
// decide how many results per check to keep.
type Recorder interface {
	RecordCheck(ctx context.Context, r *Result) error
	LastCheck(ctx context.Context, check string) (*Result, error)
}

// LockName is the Locker name a scheduled run of the check holds.
func LockName(check string) string { return "mtls-check:" + check }

// SchedulerOptions configure a Scheduler. Zero values are usable defaults.
type SchedulerOptions struct {
	Logger        *slog.Logger   // nil = discard
	Location      *time.Location // time zone of cron specs; nil = UTC
	MaxConcurrent int            // checks running at once; 0 = 8
	Jitter        time.Duration  // each scheduled run waits a random [0, Jitter) first, capped at half its interval
	Locker        Locker         // nil = every replica runs every check
	Recorder      Recorder       // nil = results kept only as the last one in memory
	Metrics       *Metrics       // nil = no metrics
	// OnTransition is called when a check turns from success to failure or
	// back, or fails in another stage than before (Transition; prev is nil
	// on a check's first failure), on the run's goroutine:
	// it must not block for long. nil = log the event.
	OnTransition func(prev, cur *Result)
	Now          func() time.Time // nil = time.Now; used for next-run times
	Rand         io.Reader        // jitter source; nil = crypto/rand
	// Unavailable reports whether an error of the Locker means the shared
	// store is unreachable (the daemon: errors.Is(err,
	// store.ErrUnavailable)). Such a tick is skipped, counted with reason
	// store_unavailable, and the check's up and duration series are
	// removed until it runs again: its state is unknown, not its last
	// value. nil = every Locker error is only logged.
	Unavailable func(error) bool
}

// Scheduler runs checks on their cron schedules with panic recovery,
// skip-if-still-running per check, a bound on concurrent checks, jitter and
// a cross-replica lock; with a Locker and a Recorder shared by replicas, each
// tick of a check runs on one replica. Stop cancels nothing: each check has
// its own timeout; Shutdown cancels the runs in progress.
type Scheduler struct {
	o      SchedulerOptions
	log    *slog.Logger
	cron   *cron.Cron
	sem    chan struct{}
	ctx    context.Context // scheduled runs' parent; cancelled by Shutdown
	cancel context.CancelFunc

	mu   sync.Mutex
	jobs map[string]*job
	last map[string]*Result
}

// job is one check's cron job. The check pointer is swapped by Update so a
// rotated profile is used by the next run; the wrapped chain (and its
// still-running guard) lives as long as the check's name.
type job struct {
	s       *Scheduler
	name    string
	check   atomic.Pointer[Check]
	spec    string
	id      cron.EntryID
	wrapped cron.Job
}

func (j *job) Run() { j.s.scheduled(j) }

// NewScheduler returns a stopped scheduler with no checks.
func NewScheduler(o SchedulerOptions) *Scheduler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	s := &Scheduler{
		o:    o,
		log:  o.Logger,
		sem:  make(chan struct{}, o.MaxConcurrent),
		jobs: map[string]*job{},
		last: map[string]*Result{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cron = cron.New(
		cron.WithLocation(o.Location),
		cron.WithLogger(cronLogger{log: o.Logger}),
	)
	return s
}

// Update replaces the scheduled checks: new names are added, missing ones
// removed, and a changed check (URL, profile, keys, schedule) is used from its
// next run on. It validates everything before changing anything.
func (s *Scheduler) Update(checks []*Check) error {
	seen := make(map[string]*Check, len(checks))
	for i, c := range checks {
		if c == nil {
			return fmt.Errorf("update checks: checks[%d] is nil", i)
		}
		if c.schedule == nil {
			return fmt.Errorf("update checks: check %q was not built by NewCheck", c.name)
		}
		if _, dup := seen[c.name]; dup {
			return fmt.Errorf("update checks: check name %q appears twice; names must be unique", c.name)
		}
		seen[c.name] = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, j := range s.jobs {
		if _, keep := seen[name]; !keep {
			s.cron.Remove(j.id)
			delete(s.jobs, name)
			delete(s.last, name)
			s.o.Metrics.forget(name)
		}
	}
	for name, c := range seen {
		j := s.jobs[name]
		if j == nil {
			j = &job{s: s, name: name}
			l := cronLogger{log: s.log, check: name, metrics: s.o.Metrics}
			// Recover must also sit inside SkipIfStillRunning: in v3.0.1 a
			// panic escapes it before it returns its token, and the job is
			// skipped forever (robfig/cron#366, fixed after the release).
			j.wrapped = cron.NewChain(cron.Recover(l), cron.SkipIfStillRunning(l), cron.Recover(l)).Then(j)
			s.jobs[name] = j
		} else if j.spec == c.spec {
			j.check.Store(c)
			continue
		} else {
			s.cron.Remove(j.id)
		}
		j.check.Store(c)
		j.spec = c.spec
		j.id = s.cron.Schedule(c.schedule, j.wrapped)
	}
	return nil
}

// Start starts the cron loop in its own goroutine; a no-op when started.
func (s *Scheduler) Start() { s.cron.Start() }

// Stop stops scheduling and returns a context that is done when the runs in
// progress have finished. It cancels nothing: they end within their timeout.
func (s *Scheduler) Stop() context.Context { return s.cron.Stop() }

// Shutdown stops scheduling and cancels the scheduled runs in progress (a
// cancelled run publishes no result), and returns a context that is done
// when they have returned: within the Locker's own release deadline.
func (s *Scheduler) Shutdown() context.Context {
	done := s.cron.Stop()
	s.cancel()
	return done
}

// RunNow runs the named check at once, outside the schedule and without the
// cross-replica lock, records it like a scheduled run and returns it.
func (s *Scheduler) RunNow(ctx context.Context, name string) (*Result, error) {
	s.mu.Lock()
	j := s.jobs[name]
	s.mu.Unlock()
	if j == nil {
		return nil, fmt.Errorf("run check %q: %w", name, ErrUnknownCheck)
	}
	return s.execute(ctx, j.check.Load()), nil
}

// Entry describes one scheduled check for listings.
type Entry struct {
	Name     string    `json:"name"`
	URL      string    `json:"url"`
	Profile  string    `json:"profile"`
	Schedule string    `json:"schedule"`
	Next     time.Time `json:"next"`
	Last     *Result   `json:"last,omitempty"`
}

// List returns the scheduled checks by name with their next run time (in
// the scheduler's location) and the last result this process saw.
func (s *Scheduler) List() []Entry {
	now := s.o.Now().In(s.o.Location)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.jobs))
	for name, j := range s.jobs {
		c := j.check.Load()
		out = append(out, Entry{Name: name, URL: c.rawURL, Profile: c.profile.name, Schedule: c.spec, Next: c.schedule.Next(now), Last: s.last[name]})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// scheduled is one cron firing of a job, already inside Recover and
// SkipIfStillRunning.
func (s *Scheduler) scheduled(j *job) {
	fired := s.o.Now()
	gap := j.check.Load().schedule.Next(fired).Sub(fired)
	if d := s.jitter(); d > 0 {
		if gap > 0 && d >= gap/2 {
			d %= gap / 2 // a run must stay inside its own tick
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	defer func() { <-s.sem }()
	c := j.check.Load() // after the waits, so a rotation during them counts
	// Bound the store calls as well as the run; only Shutdown cancels it.
	ctx, cancel := context.WithTimeout(s.ctx, c.timeout+time.Minute)
	defer cancel()
	if s.o.Locker == nil {
		s.execute(ctx, c)
		return
	}
	ran, err := s.o.Locker.WithLock(ctx, LockName(j.name), func(ctx context.Context) error {
		if s.ranThisTick(ctx, c, fired, gap) {
			s.o.Metrics.skip(j.name, SkipOtherReplica)
			s.log.Debug("mtls check already ran this tick on another replica", "check", j.name)
			return nil
		}
		s.execute(ctx, c)
		return nil
	})
	switch {
	case err != nil && s.o.Unavailable != nil && s.o.Unavailable(err):
		s.o.Metrics.skip(j.name, SkipStoreUnavailable)
		s.o.Metrics.unknown(j.name)
		s.log.Warn("mtls check skipped: the store is unavailable", "check", j.name, "err", err)
	case err != nil && s.ctx.Err() == nil:
		s.log.Error("mtls check lock", "check", j.name, "err", err)
	case !ran && err == nil:
		s.o.Metrics.skip(j.name, SkipOtherReplica)
		s.log.Debug("mtls check running on another replica", "check", j.name)
	}
}

// ranThisTick reports whether the shared Recorder already holds a result of
// this tick: the lock alone stops replicas running a check at the same
// time, not one after the other when their ticks or jitter differ. A result
// counts as this tick's if it started no earlier than the firing minus a
// clock-skew allowance (a quarter of the interval, at most 5s).
func (s *Scheduler) ranThisTick(ctx context.Context, c *Check, fired time.Time, gap time.Duration) bool {
	if s.o.Recorder == nil {
		return false
	}
	prev, err := s.o.Recorder.LastCheck(ctx, c.name)
	if err != nil || prev == nil {
		return false
	}
	return !prev.Start.Before(fired.Add(-min(gap/4, 5*time.Second)))
}

// execute runs c, then publishes the result: metrics, store, transition.
// A run cancelled by Shutdown (or its caller) publishes nothing: it says
// nothing about the check.
func (s *Scheduler) execute(ctx context.Context, c *Check) *Result {
	r := c.Run(ctx)
	if errors.Is(ctx.Err(), context.Canceled) {
		s.log.Debug("mtls check cancelled", "check", c.name)
		return r
	}
	s.o.Metrics.observe(r)
	prev := s.previous(ctx, c.name)
	if s.o.Recorder != nil {
		if err := s.o.Recorder.RecordCheck(ctx, r); err != nil {
			s.log.Error("mtls check record result", "check", c.name, "err", err)
		}
	}
	s.mu.Lock()
	if _, ok := s.jobs[c.name]; ok {
		s.last[c.name] = r
	}
	s.mu.Unlock()
	s.log.Debug("mtls check ran", "check", c.name, "ok", r.OK, "stage", r.Stage, "total", r.Stages[StageTotal])
	if Transition(prev, r) {
		s.transition(prev, r)
	}
	return r
}

func (s *Scheduler) previous(ctx context.Context, name string) *Result {
	if s.o.Recorder != nil {
		prev, err := s.o.Recorder.LastCheck(ctx, name)
		if err == nil {
			return prev
		}
		s.log.Error("mtls check read last result", "check", name, "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[name]
}

// Transition reports whether cur is an event after prev (nil: none): a
// first failure, a failure after a success or back, or a failure whose
// cause (stage) differs from the previous failure's (connect → tls is a
// new problem, not the same one continuing).
func Transition(prev, cur *Result) bool {
	switch {
	case prev == nil:
		return !cur.OK
	case prev.OK != cur.OK:
		return true
	}
	return !cur.OK && prev.Stage != cur.Stage
}

func (s *Scheduler) transition(prev, cur *Result) {
	if s.o.OnTransition != nil {
		s.o.OnTransition(prev, cur)
		return
	}
	if cur.OK {
		s.log.Info("mtls check recovered", "check", cur.Check)
		return
	}
	s.log.Warn("mtls check failing", "check", cur.Check, "stage", cur.Stage, "diagnosis", cur.Diagnosis)
}

// jitter draws a delay in [0, Jitter) from Rand; 0 if Rand fails.
func (s *Scheduler) jitter() time.Duration {
	if s.o.Jitter <= 0 {
		return 0
	}
	var b [8]byte
	if _, err := io.ReadFull(s.o.Rand, b[:]); err != nil {
		return 0
	}
	return time.Duration(binary.BigEndian.Uint64(b[:]) % uint64(s.o.Jitter))
}

// cronLogger adapts slog to cron.Logger. For a check's chain it counts the
// "skip" that SkipIfStillRunning logs and names the check in panics.
type cronLogger struct {
	log     *slog.Logger
	check   string
	metrics *Metrics
}

func (l cronLogger) Info(msg string, kv ...any) {
	if l.check != "" && msg == "skip" {
		l.metrics.skip(l.check, SkipStillRunning)
		l.log.Warn("mtls check skipped: its previous run is still running", "check", l.check)
		return
	}
	l.log.Debug("cron "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	if l.check != "" {
		kv = append([]any{"check", l.check}, kv...)
	}
	l.log.Error("mtls check "+msg, append(kv, "err", err)...)
}
