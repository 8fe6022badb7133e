// Package alert owns how samlkeyd tells people something needs attention:
// the Alert record, the sinks that deliver it (log, JSON webhook, SMTP
// e-mail), and a Dispatcher that de-duplicates alerts through a shared
// Ledger and fans each one out to every sink without letting a slow or
// broken sink block the others or the caller. It decides nothing about what
// deserves an alert; the daemon does (package lifecycle has the expiry
// thresholds and their de-duplication keys).
//
// The webhook body is a stable JSON schema (version 1), documented with an
// example in README.md beside this file; see Payload.
package alert

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// Kinds of alert the daemon raises.
const (
	KindExpiry          = "expiry"
	KindCheckFailed     = "check_failed"
	KindCheckRecovered  = "check_recovered"
	KindRotationFailed  = "rotation_failed"
	KindSnapshotFailed  = "snapshot_failed"
	KindSelftestFailed  = "selftest_failed"
	KindDecryptFailures = "decrypt_failures"
)

// Severities an Alert may carry.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is one thing to tell people about.
type Alert struct {
	Key      string            // de-duplication key, e.g. "expiry:<sha256>:168h0m0s"; empty = never de-duplicated
	Kind     string            // one of the Kind constants
	Severity string            // one of the Severity constants
	Summary  string            // one line
	Detail   string            // free text, may span lines
	Subject  map[string]string // what it is about: cert id, name, fingerprint, not_after, threshold, check name …
	Time     time.Time         // when the condition was seen; zero = the Dispatcher's now
}

// Notifier delivers an alert somewhere. Implementations MUST be safe for
// concurrent use and should return promptly when ctx is done.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// Ledger remembers which alert keys have been sent, so that a restart or a
// second replica does not resend. The store implements it with one row per
// key. Claim reports first = true exactly once per key across every caller
// sharing the ledger, even when two Claims of one key race.
// Implementations MUST be safe for concurrent use.
type Ledger interface {
	Claim(ctx context.Context, key string, at time.Time) (first bool, err error)
}

// MemoryLedger is an in-memory Ledger for tests and single-process use. The
// zero value is ready to use.
type MemoryLedger struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

var _ Ledger = (*MemoryLedger)(nil)

// Claim implements Ledger.
func (l *MemoryLedger) Claim(_ context.Context, key string, at time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[key]; ok {
		return false, nil
	}
	if l.seen == nil {
		l.seen = make(map[string]time.Time)
	}
	l.seen[key] = at
	return true, nil
}

type logSink struct{ log *slog.Logger }

// NewLogSink returns a Notifier that writes each alert to log, at warning
// level (info for informational alerts, error for critical ones). A nil log
// discards.
func NewLogSink(log *slog.Logger) Notifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return logSink{log}
}

func (s logSink) Notify(ctx context.Context, a Alert) error {
	level := slog.LevelWarn
	switch a.Severity {
	case SeverityInfo:
		level = slog.LevelInfo
	case SeverityCritical:
		level = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("kind", a.Kind), slog.String("severity", a.Severity), slog.String("key", a.Key)}
	if a.Detail != "" {
		attrs = append(attrs, slog.String("detail", a.Detail))
	}
	for _, k := range slices.Sorted(maps.Keys(a.Subject)) {
		attrs = append(attrs, slog.String("subject."+k, a.Subject[k]))
	}
	s.log.LogAttrs(ctx, level, "alert: "+a.Summary, attrs...)
	return nil
}

// LedgerFunc adapts a function, such as the store's ClaimAlert method, to a
// Ledger: alert.LedgerFunc(st.ClaimAlert).
type LedgerFunc func(ctx context.Context, key string, at time.Time) (first bool, err error)

// Claim implements Ledger.
func (f LedgerFunc) Claim(ctx context.Context, key string, at time.Time) (bool, error) {
	return f(ctx, key, at)
}
