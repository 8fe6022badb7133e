package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink is one named Notifier of a Dispatcher.
type Sink struct {
	Name     string // label in logs and metrics: "log", "webhook", "smtp"
	Notifier Notifier
}

// DispatcherOptions configures a Dispatcher.
type DispatcherOptions struct {
	Sinks      []Sink
	Ledger     Ledger                // nil = no de-duplication
	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = metrics kept but not registered
	QueueSize  int                   // per sink; 0 = 64
	Timeout    time.Duration         // per delivery (a sink's own retries included); 0 = 5m
	Now        func() time.Time      // nil = time.Now
}

// Dispatcher de-duplicates alerts through a Ledger and hands each to every
// sink's bounded queue. Each sink has its own worker, so a slow or broken
// sink delays nobody: when its queue is full the alert is dropped for that
// sink and counted. It is safe for concurrent use.
type Dispatcher struct {
	log     *slog.Logger
	ledger  Ledger
	now     func() time.Time
	timeout time.Duration
	cancel  context.CancelFunc
	ctx     context.Context
	wg      sync.WaitGroup

	mu        sync.RWMutex // guards closed, queues and sinks
	closed    bool
	queueSize int
	queues    []chan Alert
	sinks     []string

	sent, failed, dropped *prometheus.CounterVec
	suppressed            prometheus.Counter
}

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("alert dispatcher closed")

// NewDispatcher starts one worker per sink. Call Close to stop them.
func NewDispatcher(o DispatcherOptions) *Dispatcher {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{log: o.Logger, ledger: o.Ledger, now: o.Now, timeout: o.Timeout, ctx: ctx, cancel: cancel,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samlkeyd_alerts_sent_total",
			Help: "Alerts delivered, by sink."}, []string{"sink"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samlkeyd_alerts_failed_total",
			Help: "Alerts a sink failed to deliver (after its retries), by sink."}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "samlkeyd_alerts_dropped_total",
			Help: "Alerts dropped because a sink's queue was full, by sink."}, []string{"sink"}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{Name: "samlkeyd_alerts_deduplicated_total",
			Help: "Alerts not sent because their key had already been sent."}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{d.sent, d.failed, d.dropped, d.suppressed} {
			if err := o.Registerer.Register(c); err != nil {
				o.Logger.Warn("alert metrics not registered", "err", err)
			}
		}
	}
	d.queueSize = o.QueueSize
	d.start(o.Sinks)
	return d
}

// start gives each sink a queue and a worker. The caller holds d.mu or has
// not shared d yet.
func (d *Dispatcher) start(sinks []Sink) {
	d.queues, d.sinks = nil, nil
	for _, s := range sinks {
		q := make(chan Alert, d.queueSize)
		d.queues = append(d.queues, q)
		d.sinks = append(d.sinks, s.Name)
		// Initialise the series so that dashboards see zeros.
		d.sent.WithLabelValues(s.Name)
		d.failed.WithLabelValues(s.Name)
		d.dropped.WithLabelValues(s.Name)
		d.wg.Add(1)
		go d.work(s, q)
	}
}

// SetSinks replaces the sinks (after a config reload), keeping the ledger
// and the metrics: alerts sent from now on go to the new sinks, while the
// old sinks' workers deliver what is already queued to them and then stop
// (Close waits for them too). After Close it does nothing.
func (d *Dispatcher) SetSinks(sinks []Sink) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, q := range d.queues {
		close(q)
	}
	d.start(sinks)
}

// Send queues a for every sink unless its key has been claimed before (by
// this or any Dispatcher sharing the Ledger). It never waits for a sink.
// If the Ledger fails, nothing is sent and the error is returned, so that
// the caller's next pass retries rather than a replica resending.
func (d *Dispatcher) Send(ctx context.Context, a Alert) error {
	if a.Time.IsZero() {
		a.Time = d.now()
	}
	if d.ledger != nil && a.Key != "" {
		first, err := d.ledger.Claim(ctx, a.Key, a.Time)
		if err != nil {
			return fmt.Errorf("claim alert %q: %w", a.Key, err)
		}
		if !first {
			d.suppressed.Inc()
			return nil
		}
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	for i, q := range d.queues {
		select {
		case q <- a:
		default:
			d.dropped.WithLabelValues(d.sinks[i]).Inc()
			d.log.Warn("alert dropped: sink queue full", "sink", d.sinks[i], "key", a.Key, "kind", a.Kind)
		}
	}
	return nil
}

func (d *Dispatcher) work(s Sink, q <-chan Alert) {
	defer d.wg.Done()
	for a := range q {
		d.deliver(s, a)
	}
}

func (d *Dispatcher) deliver(s Sink, a Alert) {
	defer func() {
		if r := recover(); r != nil {
			d.failed.WithLabelValues(s.Name).Inc()
			d.log.Error("alert sink panicked", "sink", s.Name, "key", a.Key, "panic", r)
		}
	}()
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	if err := s.Notifier.Notify(ctx, a); err != nil {
		d.failed.WithLabelValues(s.Name).Inc()
		d.log.Error("alert not delivered", "sink", s.Name, "key", a.Key, "kind", a.Kind, "err", err)
		return
	}
	d.sent.WithLabelValues(s.Name).Inc()
}

// Close stops taking alerts and lets the sinks deliver what is queued until
// ctx is done; then it cancels deliveries in flight and waits for the
// workers to return.
func (d *Dispatcher) Close(ctx context.Context) {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, q := range d.queues {
			close(q)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
}
