package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/mtls"
)

// expiryScanEvery is how often the daemon looks for certificates crossing
// an expiry threshold.
const expiryScanEvery = time.Hour

// newAlerts builds the alert dispatcher from the config's sinks (the log
// always, the webhook and SMTP when configured), de-duplicated through the
// store's ledger. Sinks are read at start; a change to them needs a restart.
func newAlerts(cfg config.Alerts, st Store, o Options) (*alert.Dispatcher, error) {
	sinks, err := alert.SinksFrom(&cfg, o.Logger, nil)
	if err != nil {
		return nil, err
	}
	return alert.NewDispatcher(alert.DispatcherOptions{
		Sinks: sinks, Ledger: alert.LedgerFunc(st.ClaimAlert), Logger: o.Logger, Registerer: o.Registry, Now: o.Now,
	}), nil
}

// scanExpiry sends an alert for every certificate the daemon knows that has
// crossed an expiry threshold (or expired): once per certificate and
// threshold, across restarts and replicas (the store's ledger).
func (d *Daemon) scanExpiry(ctx context.Context) {
	defer d.recoverJob("expiry scan")
	s := d.snap.Load()
	if s == nil {
		return
	}
	var last []*mtls.Result
	for _, e := range d.checks.List() {
		last = append(last, e.Last)
	}
	now := d.now()
	err := selfTest(s.Keys)
	if err == nil && len(s.Keys.Signing) > 0 {
		err = messageSelfTest(s.SP, s.Config, s.Keys.Signing[0].Leaf(), now)
	}
	if err != nil {
		a := alert.Alert{
			Key: "selftest_failed:" + now.UTC().Format("2006010215"), Kind: alert.KindSelftestFailed,
			Severity: alert.SeverityCritical, Summary: "the serving keys do not match what metadata publishes",
			Detail: err.Error(), Time: now,
		}
		if err := d.alerts.Send(ctx, a); err != nil {
			d.log.Warn("self-test alert not sent", "err", err)
		}
	}
	for _, e := range s.Expiries(last, now, 0) {
		crossed, expired, ok := lifecycle.Thresholds(e.NotAfter, now, s.Config.Alerts.Thresholds)
		if !ok {
			continue
		}
		id := e.Fingerprint
		if id == "" { // an mTLS server's certificate: no DER kept
			id = e.Source + ":" + e.Owner + ":" + e.Subject + ":" + e.NotAfter.UTC().Format(time.RFC3339)
		}
		a := alert.Alert{
			Key:      lifecycle.AlertKey(id, crossed, expired),
			Kind:     alert.KindExpiry,
			Severity: alert.SeverityWarning,
			Time:     now,
			Subject: map[string]string{
				"source": e.Source, "owner": e.Owner, "record_id": e.RecordID, "use": e.Use,
				"subject": e.Subject, "sha256": e.Fingerprint, "not_after": e.NotAfter.UTC().Format(time.RFC3339),
			},
		}
		switch {
		case expired:
			a.Severity = alert.SeverityCritical
			a.Summary = fmt.Sprintf("%s certificate %s of %q expired on %s", e.Source, e.Subject, e.Owner, e.NotAfter.UTC().Format(time.DateOnly))
		default:
			if crossed <= 7*24*time.Hour {
				a.Severity = alert.SeverityCritical
			}
			a.Subject["threshold"] = crossed.String()
			a.Summary = fmt.Sprintf("%s certificate %s of %q expires on %s (in %d days)", e.Source, e.Subject, e.Owner,
				e.NotAfter.UTC().Format(time.DateOnly), int(e.NotAfter.Sub(now).Hours()/24))
		}
		if err := d.alerts.Send(ctx, a); err != nil {
			d.log.Warn("expiry alert not sent; the next scan retries", "key", a.Key, "err", err)
		}
	}
}

// alertCheckTransition turns an mTLS check going from success to failure,
// or back, into an alert.
func (d *Daemon) alertCheckTransition(prev, cur *mtls.Result) {
	a := alert.Alert{
		Key:     "check:" + cur.Check + ":" + cur.Start.UTC().Format(time.RFC3339Nano),
		Time:    cur.Start,
		Subject: map[string]string{"check": cur.Check, "stage": cur.Stage},
	}
	if cur.OK {
		a.Kind, a.Severity = alert.KindCheckRecovered, alert.SeverityInfo
		a.Summary = fmt.Sprintf("mTLS check %q passes again", cur.Check)
	} else {
		a.Kind, a.Severity = alert.KindCheckFailed, alert.SeverityCritical
		a.Summary = fmt.Sprintf("mTLS check %q failed in the %s stage", cur.Check, cur.Stage)
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
	sum := sha256.Sum256([]byte(err.Error()))
	now := d.now()
	a := alert.Alert{
		Key:      "snapshot_failed:" + trigger + ":" + hex.EncodeToString(sum[:8]) + ":" + now.UTC().Format("2006010215"),
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
