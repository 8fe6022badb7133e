package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
)

// The alert rules: what is worth an alert, at what severity, and its
// de-duplication key. The dispatcher (alert package) claims each key once in
// the store's ledger, shared by replicas and kept across restarts.

// expiryScanEvery is how often the daemon looks for certificates crossing
// an expiry threshold.
const expiryScanEvery = time.Hour

// alertSinks builds the sinks cfg asks for (the log always, the webhook and
// SMTP when configured). They are rebuilt from every newly loaded config.
func alertSinks(cfg *config.Config, log *slog.Logger) ([]alert.Sink, error) {
	return alert.SinksFrom(&cfg.Alerts, log, nil)
}

// alertKey is an alert's de-duplication key: its kind, then what tells one
// occurrence from another, joined by ":". The ledger remembers keys across
// restarts and versions, so a key's format never changes once released.
func alertKey(kind string, parts ...string) string {
	return strings.Join(append([]string{kind}, parts...), ":")
}

// hourOf is the key part that lets an alert repeat at most once an hour.
func hourOf(t time.Time) string { return t.UTC().Format("2006010215") }

// errDigest is the key part that tells errors apart without their text.
func errDigest(err error) string {
	sum := sha256.Sum256([]byte(err.Error()))
	return hex.EncodeToString(sum[:8])
}

// scanExpiry re-runs the self-test on the serving keys, then sends an alert
// for every certificate the daemon knows that has crossed an expiry
// threshold (or expired): once per certificate and threshold, across
// restarts and replicas (the store's ledger).
func (d *Daemon) scanExpiry(ctx context.Context) {
	defer d.recoverJob("expiry scan")
	s := d.snap.Load()
	if s == nil {
		return
	}
	now := d.now()
	d.alertSelfTest(ctx, s, now)
	var last []*mtls.Result
	for _, e := range d.checks.List() {
		last = append(last, e.Last)
	}
	for _, e := range s.Expiries(last, now, 0) {
		a, ok := expiryAlert(e, now, s.Config.Alerts.Thresholds)
		if !ok {
			continue
		}
		if err := d.alerts.Send(ctx, a); err != nil {
			d.log.Warn("expiry alert not sent; the next scan retries", "key", a.Key, "err", err)
		}
	}
}

// alertSelfTest alerts, at most hourly, when the serving keys no longer
// match what the metadata publishes.
func (d *Daemon) alertSelfTest(ctx context.Context, s *Snapshot, now time.Time) {
	err := selfTest(s.Keys)
	if err == nil && len(s.Keys.Signing) > 0 {
		err = messageSelfTest(s.SP, s.Config, s.Keys.Signing[0].Leaf(), now)
	}
	if err == nil {
		return
	}
	a := alert.Alert{
		Key: alertKey("selftest_failed", hourOf(now)), Kind: alert.KindSelftestFailed,
		Severity: alert.SeverityCritical, Summary: "the serving keys do not match what metadata publishes",
		Detail: err.Error(), Time: now,
	}
	if err := d.alerts.Send(ctx, a); err != nil {
		d.log.Warn("self-test alert not sent", "err", err)
	}
}

// expiryAlert is the alert for a certificate past an expiry threshold, or
// false when it has crossed none. Its key is one per certificate (by
// fingerprint) and threshold, so a renewed certificate alerts afresh.
func expiryAlert(e Expiry, now time.Time, thresholds []time.Duration) (alert.Alert, bool) {
	crossed, expired, ok := lifecycle.Thresholds(e.NotAfter, now, thresholds)
	if !ok {
		return alert.Alert{}, false
	}
	id := e.Fingerprint
	if id == "" { // an mTLS server's certificate: no DER kept
		id = e.Source + ":" + e.Owner + ":" + e.Subject + ":" + e.NotAfter.UTC().Format(time.RFC3339)
	}
	a := alert.Alert{
		Key:      alertKey("expiry", id, crossed.String()),
		Kind:     alert.KindExpiry,
		Severity: alert.SeverityWarning,
		Time:     now,
		Subject: map[string]string{
			"source": e.Source, "owner": e.Owner, "record_id": e.RecordID, "use": e.Use,
			"subject": e.Subject, "sha256": e.Fingerprint, "not_after": e.NotAfter.UTC().Format(time.RFC3339),
		},
	}
	if expired {
		a.Key = alertKey("expired", id)
		a.Severity = alert.SeverityCritical
		a.Summary = fmt.Sprintf("%s certificate %s of %q expired on %s", e.Source, e.Subject, e.Owner, e.NotAfter.UTC().Format(time.DateOnly))
		return a, true
	}
	if crossed <= 7*24*time.Hour {
		a.Severity = alert.SeverityCritical
	}
	a.Subject["threshold"] = crossed.String()
	days := int(e.NotAfter.Sub(now).Hours() / 24)
	in := fmt.Sprintf("in %d days", days)
	switch days {
	case 0:
		in = "in less than a day"
	case 1:
		in = "in 1 day"
	}
	a.Summary = fmt.Sprintf("%s certificate %s of %q expires on %s (%s)", e.Source, e.Subject, e.Owner,
		e.NotAfter.UTC().Format(time.DateOnly), in)
	return a, true
}

// alertCheckTransition turns an mTLS check going from success to failure,
// or back, or failing for another cause (stage) than before, into an alert:
// a changed cause is a new check_failed.
func (d *Daemon) alertCheckTransition(prev, cur *mtls.Result) {
	a := alert.Alert{
		Key:     alertKey("check", cur.Check, cur.Start.UTC().Format(time.RFC3339Nano)),
		Time:    cur.Start,
		Subject: map[string]string{"check": cur.Check, "stage": cur.Stage},
	}
	if cur.OK {
		a.Kind, a.Severity = alert.KindCheckRecovered, alert.SeverityInfo
		a.Summary = fmt.Sprintf("mTLS check %q passes again", cur.Check)
	} else {
		a.Kind, a.Severity = alert.KindCheckFailed, alert.SeverityCritical
		a.Summary = fmt.Sprintf("mTLS check %q failed in the %s stage", cur.Check, cur.Stage)
		if prev != nil && !prev.OK && prev.Stage != cur.Stage {
			a.Summary = fmt.Sprintf("mTLS check %q now fails in the %s stage (it failed in the %s stage before)", cur.Check, cur.Stage, prev.Stage)
			a.Subject["previous_stage"] = prev.Stage
		}
		a.Detail = cur.Summary()
	}
	d.log.Warn("mTLS check changed", "check", cur.Check, "ok", cur.OK, "stage", cur.Stage, "diagnosis", cur.Diagnosis)
	if err := d.alerts.Send(context.Background(), a); err != nil {
		d.log.Warn("check alert not sent", "check", cur.Check, "err", err)
	}
}

// alertSnapshotFailed reports a rejected snapshot, at most once an hour per
// trigger and error.
func (d *Daemon) alertSnapshotFailed(ctx context.Context, trigger string, err error) {
	now := d.now()
	a := alert.Alert{
		Key:      alertKey("snapshot_failed", trigger, errDigest(err), hourOf(now)),
		Kind:     alert.KindSnapshotFailed,
		Severity: alert.SeverityCritical,
		Summary:  "a configuration or store change was rejected; the previous keys keep serving",
		Detail:   strings.TrimSpace(err.Error()),
		Subject:  map[string]string{"trigger": trigger},
		Time:     now,
	}
	if serr := d.alerts.Send(ctx, a); serr != nil {
		d.log.Warn("snapshot alert not sent", "err", serr)
	}
}

// alertRotationFailed reports a failed rotation run, at most hourly per use
// and error.
func (d *Daemon) alertRotationFailed(ctx context.Context, use keys.Use, err error) {
	now := d.now()
	a := alert.Alert{
		Key:      alertKey("rotation_failed", string(use), errDigest(err), hourOf(now)),
		Kind:     alert.KindRotationFailed,
		Severity: alert.SeverityCritical,
		Summary:  fmt.Sprintf("rotation of the %s key failed", use),
		Detail:   err.Error(),
		Subject:  map[string]string{"use": string(use)},
		Time:     now,
	}
	if serr := d.alerts.Send(ctx, a); serr != nil {
		d.log.Warn("rotation alert not sent", "err", serr)
	}
}

// decryptBurst counts, per IdP, the opaque decryption failures within a
// sliding window, and remembers the hour it last alerted. The zero value
// is ready to use; it holds at most limit+1 times per configured IdP.
type decryptBurst struct {
	mu      sync.Mutex
	times   map[string][]time.Time // oldest first, all within the window
	alerted map[string]string      // IdP -> hourOf the last alert
}

// note records a failure of idp at now and reports whether more than
// limit fell within window and no alert was raised for idp this hour.
func (b *decryptBurst) note(idp string, now time.Time, limit int, window time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.times == nil {
		b.times, b.alerted = map[string][]time.Time{}, map[string]string{}
	}
	ts := b.times[idp]
	for len(ts) > 0 && !ts[0].After(now.Add(-window)) {
		ts = ts[1:]
	}
	ts = append(ts, now)
	if len(ts) > limit+1 {
		ts = ts[len(ts)-limit-1:]
	}
	b.times[idp] = ts
	if len(ts) <= limit || b.alerted[idp] == hourOf(now) {
		return false
	}
	b.alerted[idp] = hourOf(now)
	return true
}

// retry forgets this hour's alert for idp, so the next failure tries again.
func (b *decryptBurst) retry(idp string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.alerted, idp)
}

// responseRefused counts a refused SAMLResponse by IdP and check, and
// raises decrypt_failures (a warning, at most hourly per IdP) when more
// than alerts.decrypt_failure_burst opaque decryption failures of one IdP
// fall within config.DecryptFailureWindow: altered ciphertexts are what a
// padding-oracle probe sends. A name that is no configured IdP is counted
// with idp "", so callers cannot grow the series.
func (d *Daemon) responseRefused(ctx context.Context, cfg *config.Config, idp string, re *sp.ResponseError) {
	if !slices.ContainsFunc(cfg.IdPs, func(p config.IdP) bool { return p.Name == idp }) {
		idp = ""
	}
	d.metrics.responseFails.WithLabelValues(idp, re.Check).Inc()
	if idp == "" || re.Check != sp.CheckDecrypt || !errors.Is(re, sp.ErrResponseOpaque) {
		return
	}
	limit := cfg.Alerts.DecryptFailureBurst
	if limit <= 0 {
		limit = config.DefaultDecryptFailureBurst
	}
	now := d.now()
	if !d.decrypts.note(idp, now, limit, config.DecryptFailureWindow) {
		return
	}
	a := alert.Alert{
		Key:      alertKey("decrypt_failures", idp, hourOf(now)),
		Kind:     alert.KindDecryptFailures,
		Severity: alert.SeverityWarning,
		Summary: fmt.Sprintf("more than %d encrypted assertions from idp %q failed to decrypt and verify within %s",
			limit, idp, config.DecryptFailureWindow),
		Detail: "Someone may be probing the decrypter with altered ciphertexts. The daemon log names the API tokens " +
			"that sent them. To close the residual risk, set want_response_signed: true for this IdP, or allow_cbc: false " +
			"once it encrypts with AES-GCM.",
		Subject: map[string]string{"idp": idp, "check": sp.CheckDecrypt},
		Time:    now,
	}
	if err := d.alerts.Send(ctx, a); err != nil {
		d.decrypts.retry(idp)
		d.log.Warn("decrypt failure alert not sent; the next failure retries", "idp", idp, "err", err)
	}
}
