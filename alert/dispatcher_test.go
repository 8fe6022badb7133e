package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/secret"
)

// recorder is a Notifier that records what it receives.
type recorder struct {
	mu  sync.Mutex
	got []Alert
	ch  chan Alert
}

func newRecorder() *recorder { return &recorder{ch: make(chan Alert, 100)} }

func (r *recorder) Notify(_ context.Context, a Alert) error {
	r.mu.Lock()
	r.got = append(r.got, a)
	r.mu.Unlock()
	r.ch <- a
	return nil
}

func (r *recorder) keys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []string
	for _, a := range r.got {
		ks = append(ks, a.Key)
	}
	return ks
}

// wait returns the next alert, failing after a generous bound (never reached
// when the dispatcher works; it only keeps a broken test from hanging).
func (r *recorder) wait(t *testing.T) Alert {
	t.Helper()
	select {
	case a := <-r.ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no alert delivered")
		return Alert{}
	}
}

func TestDispatcherDeduplicates(t *testing.T) {
	ledger := &MemoryLedger{}
	rec := newRecorder()
	// Two replicas sharing one ledger.
	d1 := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"rec", rec}}, Ledger: ledger})
	d2 := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"rec", rec}}, Ledger: ledger})
	ctx := context.Background()
	send := func(d *Dispatcher, key string) {
		t.Helper()
		if err := d.Send(ctx, testAlert(key)); err != nil {
			t.Fatal(err)
		}
	}
	send(d1, "expiry:old:168h0m0s")
	send(d1, "expiry:old:168h0m0s") // same key twice
	send(d2, "expiry:old:168h0m0s") // a second replica
	send(d2, "expiry:new:168h0m0s") // the renewed certificate: new fingerprint, new key
	send(d1, "")                    // no key: never de-duplicated
	send(d2, "")
	d1.Close(ctx)
	d2.Close(ctx)
	got := rec.keys()
	want := map[string]int{"expiry:old:168h0m0s": 1, "expiry:new:168h0m0s": 1, "": 2}
	count := map[string]int{}
	for _, k := range got {
		count[k]++
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("key %q delivered %d times, want %d (all: %q)", k, count[k], n, got)
		}
	}
	if n := testutil.ToFloat64(d1.suppressed) + testutil.ToFloat64(d2.suppressed); n != 2 {
		t.Errorf("deduplicated = %v, want 2", n)
	}
}

type failingLedger struct{}

func (failingLedger) Claim(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("database is down")
}

func TestDispatcherLedgerFailureSendsNothing(t *testing.T) {
	rec := newRecorder()
	d := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"rec", rec}}, Ledger: failingLedger{}})
	if err := d.Send(context.Background(), testAlert("k")); err == nil {
		t.Error("Send with a failing ledger returned nil")
	}
	d.Close(context.Background())
	if len(rec.keys()) != 0 {
		t.Errorf("delivered %q despite the ledger failing", rec.keys())
	}
}

func TestDispatcherDownSinksDoNotBlock(t *testing.T) {
	// A closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String() + "/hook"
	l.Close()
	// A server that accepts and never answers.
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	sl := &noSleep{}
	closedHook, err := NewWebhook(WebhookOptions{URL: closedURL, Retries: 2, Sleep: sl.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	hangingHook, err := NewWebhook(WebhookOptions{URL: hanging.URL, Timeout: time.Hour, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	d := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"closed", closedHook}, {"hanging", hangingHook}, {"rec", rec}},
		Ledger: &MemoryLedger{}, Registerer: reg})
	for _, k := range []string{"a", "b", "c"} {
		if err := d.Send(context.Background(), testAlert(k)); err != nil {
			t.Fatal(err)
		}
	}
	// The working sink gets every alert while the hanging one is still stuck
	// on the first.
	for _, k := range []string{"a", "b", "c"} {
		if got := rec.wait(t); got.Key != k {
			t.Errorf("got %q, want %q", got.Key, k)
		}
	}
	// Close gives up on the hanging sink when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Close(ctx)
	if n := testutil.ToFloat64(d.failed.WithLabelValues("closed")); n != 3 {
		t.Errorf("closed sink failures = %v, want 3", n)
	}
	if n := testutil.ToFloat64(d.sent.WithLabelValues("rec")); n != 3 {
		t.Errorf("rec sink sent = %v, want 3", n)
	}
	if n := testutil.ToFloat64(d.sent.WithLabelValues("hanging")); n != 0 {
		t.Errorf("hanging sink sent = %v, want 0", n)
	}
	if n, err := testutil.GatherAndCount(reg, "samlkeyd_alerts_failed_total"); err != nil || n != 3 {
		t.Errorf("registered failed series = %d, %v; want one per sink", n, err)
	}
	if err := d.Send(context.Background(), testAlert("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

// blocker holds the first alert until released.
type blocker struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blocker) Notify(ctx context.Context, a Alert) error {
	b.once.Do(func() { close(b.started) })
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestDispatcherDropsWhenQueueFull(t *testing.T) {
	b := &blocker{started: make(chan struct{}), release: make(chan struct{})}
	d := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"slow", b}}, QueueSize: 1})
	ctx := context.Background()
	_ = d.Send(ctx, testAlert("1")) // taken by the worker, which blocks
	<-b.started
	_ = d.Send(ctx, testAlert("2")) // queued
	_ = d.Send(ctx, testAlert("3")) // dropped
	if n := testutil.ToFloat64(d.dropped.WithLabelValues("slow")); n != 1 {
		t.Errorf("dropped = %v, want 1", n)
	}
	close(b.release)
	d.Close(ctx)
	if n := testutil.ToFloat64(d.sent.WithLabelValues("slow")); n != 2 {
		t.Errorf("sent = %v, want 2", n)
	}
}

type panicker struct{}

func (panicker) Notify(context.Context, Alert) error { panic("boom") }

func TestDispatcherSurvivesPanickingSink(t *testing.T) {
	rec := newRecorder()
	d := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"panic", panicker{}}, {"rec", rec}}})
	for _, k := range []string{"a", "b"} {
		_ = d.Send(context.Background(), testAlert(k))
	}
	d.Close(context.Background())
	if n := testutil.ToFloat64(d.failed.WithLabelValues("panic")); n != 2 {
		t.Errorf("panicking sink failures = %v, want 2", n)
	}
	if len(rec.keys()) != 2 {
		t.Errorf("rec got %q", rec.keys())
	}
}

func TestDispatcherConcurrentSendsOfOneKey(t *testing.T) {
	ledger := &MemoryLedger{}
	rec := newRecorder()
	ds := []*Dispatcher{
		NewDispatcher(DispatcherOptions{Sinks: []Sink{{"rec", rec}}, Ledger: ledger}),
		NewDispatcher(DispatcherOptions{Sinks: []Sink{{"rec", rec}}, Ledger: ledger}),
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if err := ds[i%2].Send(context.Background(), testAlert("expiry:same:72h0m0s")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, d := range ds {
		d.Close(context.Background())
	}
	if got := rec.keys(); len(got) != 1 {
		t.Errorf("40 concurrent sends of one key delivered %d times", len(got))
	}
}

func TestLogSink(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	for _, tc := range []struct {
		severity, level string
	}{{SeverityInfo, "INFO"}, {SeverityWarning, "WARN"}, {SeverityCritical, "ERROR"}} {
		t.Run(tc.severity, func(t *testing.T) {
			buf.Reset()
			a := testAlert("k")
			a.Severity = tc.severity
			if err := NewLogSink(log).Notify(context.Background(), a); err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]any{"level": tc.level, "msg": "alert: " + a.Summary, "kind": "expiry", "key": "k",
				"detail": a.Detail, "subject.record": "sp-signing", "subject.sha256": "ab12"} {
				if rec[k] != want {
					t.Errorf("%s = %v, want %v", k, rec[k], want)
				}
			}
		})
	}
}

func TestWebhookErrorsHideCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://user:urlpass@", 1)
	w, err := NewWebhook(WebhookOptions{URL: u, Secret: secret.FromString("hmackey"), Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Notify(context.Background(), testAlert("k"))
	if err == nil {
		t.Fatal("Notify succeeded against a 500")
	}
	for _, s := range []string{"urlpass", "hmackey"} {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", w, w), s) {
			t.Errorf("error or %%+v of the webhook reveals %q: %v", s, err)
		}
	}
}

// gatedRecorder records alerts, each only after gate is closed: a slow sink
// with alerts queued.
type gatedRecorder struct {
	gate chan struct{}
	*recorder
}

func (g gatedRecorder) Notify(ctx context.Context, a Alert) error {
	<-g.gate
	return g.recorder.Notify(ctx, a)
}

func TestDispatcherSetSinks(t *testing.T) {
	reg := prometheus.NewRegistry()
	old := gatedRecorder{gate: make(chan struct{}), recorder: newRecorder()}
	d := NewDispatcher(DispatcherOptions{Sinks: []Sink{{"webhook", old}}, Ledger: &MemoryLedger{}, Registerer: reg})
	ctx := context.Background()
	for _, k := range []string{"a", "b"} { // queued behind the gate
		if err := d.Send(ctx, testAlert(k)); err != nil {
			t.Fatal(err)
		}
	}
	cur := newRecorder()
	d.SetSinks([]Sink{{"webhook", cur}})
	for _, k := range []string{"c", "a"} { // "a" was claimed before the swap: the ledger still de-duplicates
		if err := d.Send(ctx, testAlert(k)); err != nil {
			t.Fatal(err)
		}
	}
	close(old.gate)
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d.Close(closeCtx)
	if got := strings.Join(old.keys(), ","); got != "a,b" {
		t.Errorf("old sink delivered %q, want its queued a,b (none lost at the swap)", got)
	}
	if got := strings.Join(cur.keys(), ","); got != "c" {
		t.Errorf("new sink delivered %q, want c", got)
	}
	if got := testutil.ToFloat64(d.sent.WithLabelValues("webhook")); got != 3 {
		t.Errorf("sent{webhook} = %v, want 3 across both sinks (one series)", got)
	}
	if got := testutil.ToFloat64(d.suppressed); got != 1 {
		t.Errorf("deduplicated = %v, want 1", got)
	}
	d.SetSinks([]Sink{{"webhook", cur}}) // after Close: no worker starts
	if err := d.Send(ctx, testAlert("d")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}
