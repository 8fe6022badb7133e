package mtls

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/samlkeyd/samlkeyd/config"
)

// metricValue reads one gauge or counter series from reg.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			if mf.GetType() == dto.MetricType_COUNTER {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// closedPortURL returns an mhttps URL where nothing listens: a check of it
// fails fast in the connect stage.
func closedPortURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "mhttps://" + l.Addr().String() + "/"
}

func scheduledCheck(t testing.TB, prof *Profile, name, url, spec string) *Check {
	t.Helper()
	c, err := NewCheck(parsed(t, config.Check{Name: name, URL: url, Schedule: spec, Timeout: 5 * time.Second}), map[string]*Profile{prof.Name(): prof})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fire runs a check's cron job as a tick would, through its wrappers.
func fire(t testing.TB, s *Scheduler, name string) {
	t.Helper()
	s.mu.Lock()
	j := s.jobs[name]
	s.mu.Unlock()
	if j == nil {
		t.Fatalf("no job %q", name)
	}
	j.wrapped.Run()
}

// panickingRecorder panics on every RecordCheck and counts the calls.
type panickingRecorder struct{ calls atomic.Int32 }

func (p *panickingRecorder) RecordCheck(context.Context, *Result) error {
	p.calls.Add(1)
	panic("recorder exploded")
}

func (p *panickingRecorder) LastCheck(context.Context, string) (*Result, error) { return nil, nil }

// TestSchedulerPanickingJobKeepsFiring runs the real cron loop at its finest
// interval (one second): a job that panics on every run is recovered, logged
// and fired again.
func TestSchedulerPanickingJobKeepsFiring(t *testing.T) {
	p := newPKI(t)
	log, logs := testLogger()
	rec := &panickingRecorder{}
	s := NewScheduler(SchedulerOptions{Logger: log, Recorder: rec})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "boom", closedPortURL(t), "* * * * * *")}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	deadline := time.After(10 * time.Second)
	for rec.calls.Load() < 2 {
		select {
		case <-deadline:
			t.Fatalf("job ran %d times in 10s; the scheduler stopped firing after a panic\n%s", rec.calls.Load(), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	<-s.Stop().Done()
	if out := logs.String(); !strings.Contains(out, "recorder exploded") || !strings.Contains(out, "check=boom") {
		t.Errorf("panic not logged with the check name:\n%s", out)
	}
}

// TestSchedulerPanicDoesNotWedgeSkip fires a panicking job twice through its
// wrappers: with cron v3.0.1's SkipIfStillRunning outside the only Recover,
// the second tick would be skipped forever (robfig/cron#366).
func TestSchedulerPanicDoesNotWedgeSkip(t *testing.T) {
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	rec := &panickingRecorder{}
	s := NewScheduler(SchedulerOptions{Recorder: rec, Metrics: NewMetrics(reg)})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "boom", closedPortURL(t), "@every 1m")}); err != nil {
		t.Fatal(err)
	}
	fire(t, s, "boom")
	fire(t, s, "boom")
	if n := rec.calls.Load(); n != 2 {
		t.Errorf("job ran %d times on two ticks", n)
	}
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "boom"}); v != 0 {
		t.Errorf("%v ticks skipped after a panic", v)
	}
}

// blockingRecorder holds every RecordCheck until released, tracking how many
// are inside at once.
type blockingRecorder struct {
	entered  chan string
	release  chan struct{}
	inflight atomic.Int32
	max      atomic.Int32
	mu       sync.Mutex
	results  []*Result
}

func newBlockingRecorder() *blockingRecorder {
	return &blockingRecorder{entered: make(chan string, 100), release: make(chan struct{})}
}

func (b *blockingRecorder) RecordCheck(_ context.Context, r *Result) error {
	n := b.inflight.Add(1)
	for {
		m := b.max.Load()
		if n <= m || b.max.CompareAndSwap(m, n) {
			break
		}
	}
	b.entered <- r.Check
	<-b.release
	b.inflight.Add(-1)
	b.mu.Lock()
	b.results = append(b.results, r)
	b.mu.Unlock()
	return nil
}

func (b *blockingRecorder) LastCheck(context.Context, string) (*Result, error) { return nil, nil }

// TestSchedulerSkipsWhileRunning: a run slower than its interval is never
// overlapped; the tick that finds it still running is skipped and counted.
func TestSchedulerSkipsWhileRunning(t *testing.T) {
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	rec := newBlockingRecorder()
	s := NewScheduler(SchedulerOptions{Recorder: rec, Metrics: NewMetrics(reg)})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "slow", closedPortURL(t), "@every 1s")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { fire(t, s, "slow"); close(done) }()
	<-rec.entered
	fire(t, s, "slow") // the next tick while the first run is still inside
	fire(t, s, "slow")
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "slow", "reason": SkipStillRunning}); v != 2 {
		t.Errorf("skip counter %v, want 2", v)
	}
	close(rec.release)
	<-done
	fire(t, s, "slow") // after it finished, the next tick runs
	if rec.max.Load() != 1 || len(rec.results) != 2 {
		t.Errorf("max concurrent runs %d, runs %d; want 1 and 2", rec.max.Load(), len(rec.results))
	}
}

func TestSchedulerBoundsConcurrency(t *testing.T) {
	p := newPKI(t)
	rec := newBlockingRecorder()
	s := NewScheduler(SchedulerOptions{Recorder: rec, MaxConcurrent: 2})
	prof := p.profile(t, p.good)
	url := closedPortURL(t)
	var checks []*Check
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		checks = append(checks, scheduledCheck(t, prof, n, url, "@every 1m"))
	}
	if err := s.Update(checks); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() { fire(t, s, c.Name()) })
	}
	<-rec.entered
	<-rec.entered
	entered := 2
	for range checks {
		rec.release <- struct{}{}
		if entered < len(checks) {
			<-rec.entered
			entered++
		}
	}
	wg.Wait()
	if rec.max.Load() != 2 || len(rec.results) != len(checks) {
		t.Errorf("max concurrent %d (want 2), runs %d (want %d)", rec.max.Load(), len(rec.results), len(checks))
	}
}

func TestSchedulerUpdate(t *testing.T) {
	p := newPKI(t)
	prof := p.profile(t, p.good)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC) // 08:00 in New York
	s := NewScheduler(SchedulerOptions{Location: ny, Now: func() time.Time { return now }})
	a1 := scheduledCheck(t, prof, "a", "mhttps://a.example/", "@every 1h")
	if err := s.Update([]*Check{a1}); err != nil {
		t.Fatal(err)
	}
	idBefore := s.jobs["a"].id

	a2 := scheduledCheck(t, prof, "a", "mhttps://a2.example/", "0 9 * * *")
	b := scheduledCheck(t, prof, "b", "mhttps://b.example/", "@every 1h")
	if err := s.Update([]*Check{a2, b}); err != nil {
		t.Fatal(err)
	}
	l := s.List()
	if len(l) != 2 || l[0].Name != "a" || l[0].Schedule != "0 9 * * *" || l[0].URL != "mhttps://a2.example/" {
		t.Fatalf("after update: %+v", l)
	}
	if want := time.Date(2026, 7, 1, 9, 0, 0, 0, ny); !l[0].Next.Equal(want) {
		t.Errorf("next run %s, want 09:00 New York (%s)", l[0].Next, want)
	}
	if s.jobs["a"].id == idBefore || len(s.cron.Entries()) != 2 {
		t.Errorf("changed schedule not rescheduled: id %d→%d, %d entries", idBefore, s.jobs["a"].id, len(s.cron.Entries()))
	}
	// A change that keeps the schedule swaps the check in place.
	idA := s.jobs["a"].id
	a3 := scheduledCheck(t, prof, "a", "mhttps://a3.example/", "0 9 * * *")
	if err := s.Update([]*Check{a3, b}); err != nil {
		t.Fatal(err)
	}
	if s.jobs["a"].id != idA || s.jobs["a"].check.Load() != a3 {
		t.Errorf("same schedule: entry %d→%d, check swapped %v", idA, s.jobs["a"].id, s.jobs["a"].check.Load() == a3)
	}
	// Invalid updates change nothing.
	for name, bad := range map[string][]*Check{
		"duplicate name":    {a3, b, scheduledCheck(t, prof, "b", "mhttps://x.example/", "@hourly")},
		"nil check":         {a3, nil},
		"not from NewCheck": {&Check{name: "raw"}},
	} {
		if err := s.Update(bad); err == nil {
			t.Errorf("%s: update accepted", name)
		}
	}
	if len(s.List()) != 2 || len(s.cron.Entries()) != 2 {
		t.Errorf("a failed update changed the schedule: %+v", s.List())
	}
	if err := s.Update([]*Check{b}); err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 1 || l[0].Name != "b" || len(s.cron.Entries()) != 1 {
		t.Errorf("removal: %+v", l)
	}
	if _, err := s.RunNow(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), ErrUnknownCheck.Error()) {
		t.Errorf("RunNow of a removed check: %v", err)
	}
}

// TestSchedulerRotation: a check rebuilt with a new profile (the keystore
// record rotated) is used by the next run with no restart, and the change
// from failure to success is an event.
func TestSchedulerRotation(t *testing.T) {
	p := newPKI(t)
	addr := startGoServer(t, p, goServerOpts{})
	reg := prometheus.NewRegistry()
	rec := &MemoryRecorder{Keep: 2}
	type event struct{ prev, cur *Result }
	var events []event
	s := NewScheduler(SchedulerOptions{Recorder: rec, Metrics: NewMetrics(reg),
		OnTransition: func(prev, cur *Result) { events = append(events, event{prev, cur}) }})
	url := "mhttps://" + addr + "/"
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.wrongCA), "partner", url, "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	r, err := s.RunNow(context.Background(), "partner")
	if err != nil || r.OK {
		t.Fatalf("run with the old keystore: %v %+v", err, r)
	}
	fire(t, s, "partner") // still failing: no new event
	if up, _ := metricValue(t, reg, "samlkeyd_mtls_check_up", map[string]string{"check": "partner"}); up != 0 {
		t.Errorf("up = %v after failure", up)
	}

	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "partner", url, "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	fire(t, s, "partner") // the scheduled path picks up the new profile
	h := rec.History("partner")
	if len(h) != 2 || h[0].OK || !h[1].OK {
		t.Fatalf("history (keep 2): %+v", h)
	}
	if len(events) != 2 || events[0].prev != nil || events[0].cur.OK || events[1].prev.OK || !events[1].cur.OK {
		t.Errorf("transitions: %+v", events)
	}
	if up, _ := metricValue(t, reg, "samlkeyd_mtls_check_up", map[string]string{"check": "partner"}); up != 1 {
		t.Errorf("up = %v after rotation", up)
	}
	if d, ok := metricValue(t, reg, "samlkeyd_mtls_check_duration_seconds", map[string]string{"check": "partner", "stage": StageTLS}); !ok || d <= 0 {
		t.Errorf("tls duration %v %v", d, ok)
	}
	na, _ := metricValue(t, reg, "samlkeyd_mtls_server_cert_not_after_timestamp_seconds", map[string]string{"check": "partner"})
	if int64(na) != p.server.Leaf.NotAfter.Unix() {
		t.Errorf("not_after %v, want %d", na, p.server.Leaf.NotAfter.Unix())
	}
	if l := s.List(); l[0].Last == nil || !l[0].Last.OK {
		t.Errorf("list does not show the last result: %+v", l[0])
	}
	if err := s.Update(nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := metricValue(t, reg, "samlkeyd_mtls_check_up", map[string]string{"check": "partner"}); ok {
		t.Error("series of a removed check remain")
	}
}

type refusingLocker struct{ asked atomic.Int32 }

func (l *refusingLocker) WithLock(context.Context, string, func(context.Context) error) (bool, error) {
	l.asked.Add(1)
	return false, nil
}

// TestSchedulerLock: a run whose lock another replica holds does not run
// here and is counted.
func TestSchedulerLock(t *testing.T) {
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	rec := &MemoryRecorder{}
	lock := &refusingLocker{}
	s := NewScheduler(SchedulerOptions{Recorder: rec, Locker: lock, Metrics: NewMetrics(reg)})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "partner", closedPortURL(t), "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	fire(t, s, "partner")
	if lock.asked.Load() != 1 || len(rec.History("partner")) != 0 {
		t.Errorf("lock asked %d times, %d runs recorded", lock.asked.Load(), len(rec.History("partner")))
	}
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "partner", "reason": SkipOtherReplica}); v != 1 {
		t.Errorf("other-replica skips %v", v)
	}
}

func TestMemoryLocker(t *testing.T) {
	var l MemoryLocker
	ran, err := l.WithLock(context.Background(), "x", func(ctx context.Context) error {
		inner, err := l.WithLock(ctx, "x", func(context.Context) error { return nil })
		if inner || err != nil {
			t.Errorf("second holder ran %v %v", inner, err)
		}
		other, _ := l.WithLock(ctx, "y", func(context.Context) error { return nil })
		if !other {
			t.Error("another name is blocked")
		}
		return nil
	})
	if !ran || err != nil {
		t.Fatalf("first holder: %v %v", ran, err)
	}
	if ran, _ := l.WithLock(context.Background(), "x", func(context.Context) error { return nil }); !ran {
		t.Error("lock not released")
	}
}

func TestSchedulerJitter(t *testing.T) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(7*time.Second+123))
	s := NewScheduler(SchedulerOptions{Jitter: 5 * time.Second, Rand: bytes.NewReader(b[:])})
	if got, want := s.jitter(), 2*time.Second+123; got != want {
		t.Errorf("jitter %v, want %v", got, want)
	}
	if got := s.jitter(); got != 0 {
		t.Errorf("jitter from an exhausted source %v, want 0", got)
	}
}

func TestSchedulerStopWithNothingRunning(t *testing.T) {
	s := NewScheduler(SchedulerOptions{})
	s.Start()
	select {
	case <-s.Stop().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Stop never finished")
	}
}

func TestNewMetricsTwiceReusesSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m1 := NewMetrics(reg)
	m1.skip("a", SkipStillRunning)
	m2 := NewMetrics(reg) // a daemon rebuilding its wiring on reload
	m2.skip("a", SkipStillRunning)
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "a"}); v != 2 {
		t.Errorf("skips %v after two Metrics on one registry, want 2", v)
	}
}

// TestSchedulerOneReplicaPerTick: two replicas share the store (a Locker and
// a Recorder); they fire the same tick one after the other, as differing
// clocks and jitter make them do. Only the first runs the check.
func TestSchedulerOneReplicaPerTick(t *testing.T) {
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	lock, rec := &MemoryLocker{}, &MemoryRecorder{}
	tick := time.Date(2026, 6, 1, 12, 5, 0, 0, time.UTC)
	now := tick
	clock := func() time.Time { return now }
	replica := func() *Scheduler {
		s := NewScheduler(SchedulerOptions{Locker: lock, Recorder: rec, Metrics: m, Now: clock})
		c := scheduledCheck(t, p.profile(t, p.good), "partner", closedPortURL(t), "*/5 * * * *")
		c.Now = clock
		if err := s.Update([]*Check{c}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := replica(), replica()
	fire(t, a, "partner")
	now = tick.Add(1500 * time.Millisecond) // b's clock and jitter put it later
	fire(t, b, "partner")
	if n := len(rec.History("partner")); n != 1 {
		t.Fatalf("%d runs of one tick on two replicas", n)
	}
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "partner", "reason": SkipOtherReplica}); v != 1 {
		t.Errorf("other-replica skips %v, want 1", v)
	}
	now = tick.Add(5 * time.Minute) // the next tick: b wins this time
	fire(t, b, "partner")
	now = now.Add(200 * time.Millisecond)
	fire(t, a, "partner")
	if n := len(rec.History("partner")); n != 2 {
		t.Errorf("%d runs after two ticks, want 2", n)
	}
}

// errStoreDown stands for the store's ErrUnavailable.
var errStoreDown = errors.New("store unavailable")

// flakyLocker fails with errStoreDown while down is set and runs fn
// otherwise; with hang set it blocks until the run's context is done.
type flakyLocker struct{ down, hang atomic.Bool }

func (l *flakyLocker) WithLock(ctx context.Context, _ string, fn func(context.Context) error) (bool, error) {
	switch {
	case l.hang.Load():
		<-ctx.Done()
		return false, ctx.Err()
	case l.down.Load():
		return false, fmt.Errorf("lock: %w", errStoreDown)
	}
	return true, fn(ctx)
}

// TestSchedulerStoreUnavailable: a tick whose lock the store cannot give
// is skipped with reason store_unavailable, and the check's up series goes
// away (unknown) until a run sets it again.
func TestSchedulerStoreUnavailable(t *testing.T) {
	p := newPKI(t)
	reg := prometheus.NewRegistry()
	lock := &flakyLocker{}
	var ahead atomic.Int64 // the ticks' clock; each tick is a later one
	s := NewScheduler(SchedulerOptions{Locker: lock, Recorder: &MemoryRecorder{}, Metrics: NewMetrics(reg),
		Now:         func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) },
		Unavailable: func(err error) bool { return errors.Is(err, errStoreDown) }})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "partner", closedPortURL(t), "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	up := map[string]string{"check": "partner"}
	fire(t, s, "partner")
	if _, ok := metricValue(t, reg, "samlkeyd_mtls_check_up", up); !ok {
		t.Fatal("no up series after a run")
	}
	lock.down.Store(true)
	fire(t, s, "partner")
	fire(t, s, "partner")
	if v, _ := metricValue(t, reg, "samlkeyd_mtls_check_skipped_total", map[string]string{"check": "partner", "reason": SkipStoreUnavailable}); v != 2 {
		t.Errorf("store_unavailable skips %v, want 2", v)
	}
	if _, ok := metricValue(t, reg, "samlkeyd_mtls_check_up", up); ok {
		t.Error("the up series keeps its old value while the store is unavailable")
	}
	lock.down.Store(false)
	ahead.Store(int64(10 * time.Minute))
	fire(t, s, "partner")
	if _, ok := metricValue(t, reg, "samlkeyd_mtls_check_up", up); !ok {
		t.Error("no up series after the store came back")
	}
}

// TestSchedulerShutdownCancelsRuns: a run waiting on a hung store's lock
// is cancelled by Shutdown, which returns at once and records nothing.
func TestSchedulerShutdownCancelsRuns(t *testing.T) {
	p := newPKI(t)
	rec := &MemoryRecorder{}
	lock := &flakyLocker{}
	lock.hang.Store(true)
	log, buf := testLogger()
	s := NewScheduler(SchedulerOptions{Locker: lock, Recorder: rec, Logger: log})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "partner", closedPortURL(t), "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	j := s.jobs["partner"]
	s.mu.Unlock()
	go j.wrapped.Run()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	select {
	case <-s.Shutdown().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown waited on a run stuck taking its lock")
	}
	// fire runs outside the cron loop: wait for it through the semaphore.
	waitEmpty := time.Now().Add(5 * time.Second)
	for len(s.sem) > 0 && time.Now().Before(waitEmpty) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.sem) > 0 {
		t.Fatal("the run did not return after Shutdown")
	}
	t.Logf("shutdown in %v", time.Since(start))
	if n := len(rec.History("partner")); n != 0 || strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("a cancelled run recorded %d results; log: %s", n, buf.String())
	}
}
