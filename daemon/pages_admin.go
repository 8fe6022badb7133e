package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/store"
	"github.com/samlkeyd/samlkeyd/web"
)

// The operator page's list lengths.
const (
	pageAuditEntries = 20
	pageCheckHistory = 10
)

// auditReader is the store's audit log, read by the operator page.
// *store.Store satisfies it; a Store without it shows no audit entries.
type auditReader interface {
	Audit(ctx context.Context) ([]store.AuditEntry, error)
}

// adminView reads the operator view of snap: rotation, checks and audit
// from the store, components and expiry from the snapshot, deprecated
// algorithms from the daemon's counters.
func (d *Daemon) adminView(ctx context.Context, snap *Snapshot, now time.Time) (web.Admin, error) {
	v := web.Admin{Now: now, Components: d.componentHealth(snap)}
	for _, t := range snap.Config.Alerts.Thresholds {
		v.Thresholds = append(v.Thresholds, web.Duration(t))
	}
	status, err := lifecycle.ReadStatus(ctx, snap.Config, d.opts.Store, d.now())
	if err != nil {
		return web.Admin{}, fmt.Errorf("operator view: %w", err)
	}
	for _, u := range status.Uses {
		v.Rotation = append(v.Rotation, rotationView(snap, u))
	}
	entries := d.checks.List()
	var lasts []*mtls.Result
	for _, e := range entries {
		c, err := d.checkView(ctx, e)
		if err != nil {
			return web.Admin{}, fmt.Errorf("operator view: %w", err)
		}
		v.Checks = append(v.Checks, c)
		lasts = append(lasts, e.Last)
	}
	for _, e := range snap.Expiries(lasts, now, 0) {
		v.Expiry = append(v.Expiry, web.Expiry{Kind: expiryKind(e), Name: e.Owner, Subject: e.Subject,
			SHA256: colonFingerprint(e.Fingerprint), NotAfter: e.NotAfter})
	}
	if v.Audit, err = d.recentAudit(ctx); err != nil {
		return web.Admin{}, fmt.Errorf("operator view: %w", err)
	}
	v.Deprecated = d.deprecatedCounts()
	return v, nil
}

// rotationView is one use's rollover, with the step the schedule takes next.
func rotationView(snap *Snapshot, u lifecycle.UseStatus) web.Rotation {
	r := web.Rotation{Use: string(u.Use), NextStep: "none"}
	var next *lifecycle.KeyStatus
	for i, k := range u.Keys {
		r.Keys = append(r.Keys, web.RotationKey{ID: k.RecordID, Name: k.Name, State: string(k.State),
			SHA256: colonFingerprint(k.FingerprintSHA256), NotBefore: notBefore(snap, k.FingerprintSHA256),
			NotAfter: k.NotAfter, PublishedAt: k.PublishedAt, PromotedAt: k.PromotedAt, RetiredAt: k.RetiredAt})
		if k.State == lifecycle.StateNext {
			next = &u.Keys[i]
		}
	}
	caughtUp := true
	for _, f := range u.IdPs {
		r.Fetches = append(r.Fetches, web.IdPFetch{IdP: f.IdP, FetchedNext: f.FetchedNext, LastFetch: f.LastFetch})
		caughtUp = caughtUp && f.FetchedNext
	}
	p, _, _ := lifecycle.PolicyOf(snap.Config, u.Use)
	switch {
	case u.Problem != "":
		r.NextStepReason = "the rotation policy cannot be used: " + u.Problem
	case !u.Configured:
		r.NextStepReason = "no rotation policy (rotation." + string(u.Use) + "): keys change only by hand"
	case next != nil:
		r.NextStep = "promote"
		r.PromoteFrom = next.PublishedAt.Add(p.PublishFor)
		r.PromoteBy = r.PromoteFrom.Add(p.MaxWait)
		r.NextStepReason = fmt.Sprintf("waiting for every IdP to fetch the next key (publish_for %s, max_wait %s)", p.PublishFor, p.MaxWait)
		if caughtUp {
			r.NextStepReason = fmt.Sprintf("every IdP has fetched the next key; promoted on the first scheduled run after publish_for (%s)", p.PublishFor)
		}
	case !u.NextPublish.IsZero():
		r.NextStep = "generate_next"
		r.NextStepReason = fmt.Sprintf("a next key is generated from %s (rotate_before %s the active key expires)",
			u.NextPublish.UTC().Format("2006-01-02 15:04Z"), p.RotateBefore)
	}
	return r
}

// notBefore finds the validity start of a key the snapshot publishes.
func notBefore(snap *Snapshot, sha256Hex string) time.Time {
	for _, c := range snap.Metadata.Certificates() {
		if c.Fingerprint.Hex() == sha256Hex {
			return c.NotBefore
		}
	}
	return time.Time{}
}

// checkView is one scheduled check with its last run (this process's, or
// the store's newest) and its stored history.
func (d *Daemon) checkView(ctx context.Context, e mtls.Entry) (web.Check, error) {
	c := web.Check{Name: e.Name, URL: e.URL, Profile: e.Profile, Schedule: e.Schedule}
	rows, err := d.opts.Store.CheckResultsJSON(ctx, e.Name, pageCheckHistory)
	if err != nil {
		return c, fmt.Errorf("read results of check %q: %w", e.Name, err)
	}
	for _, raw := range rows {
		var res mtls.Result
		if json.Unmarshal(raw, &res) == nil {
			c.History = append(c.History, checkRun(&res))
		}
	}
	switch {
	case e.Last != nil:
		run := checkRun(e.Last)
		c.Last = &run
		if len(c.History) > 0 && c.History[0].Start.Equal(run.Start) {
			c.History = c.History[1:]
		}
	case len(c.History) > 0:
		c.Last, c.History = &c.History[0], c.History[1:]
	}
	return c, nil
}

// stageOrder is the order check stages run in; total comes last.
var stageOrder = []string{mtls.StageDNS, mtls.StageConnect, mtls.StageTLS, mtls.StageHTTP, mtls.StageTotal}

func checkRun(r *mtls.Result) web.CheckRun {
	run := web.CheckRun{Start: r.Start, OK: r.OK, Stage: r.Stage, Status: r.Status, Diagnosis: r.Diagnosis, Error: r.Err}
	names := make([]string, 0, len(r.Stages))
	for n := range r.Stages {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := slices.Index(stageOrder, a), slices.Index(stageOrder, b)
		if ia < 0 {
			ia = len(stageOrder) - 1 // unknown stages before total, by name
		}
		if ib < 0 {
			ib = len(stageOrder) - 1
		}
		return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a, b))
	})
	for _, n := range names {
		run.Stages = append(run.Stages, web.Stage{Name: n, Duration: web.Duration(r.Stages[n])})
	}
	return run
}

func expiryKind(e Expiry) string {
	switch {
	case e.Source == "idp":
		return "IdP signing certificate"
	case e.Source == "mtls_server":
		return "mTLS server"
	case e.Use == string(keys.UseSigning), e.Use == string(keys.UseEncryption):
		return e.Use + " key"
	case e.Use == "mtls":
		return "mTLS client"
	case e.Use == "trust":
		return "trust anchor"
	}
	return "unused record"
}

// recentAudit returns the newest audit entries, newest first.
func (d *Daemon) recentAudit(ctx context.Context) ([]web.AuditEntry, error) {
	ar, ok := d.opts.Store.(auditReader)
	if !ok {
		return nil, nil
	}
	all, err := ar.Audit(ctx)
	if err != nil {
		return nil, err
	}
	var out []web.AuditEntry
	for i := len(all) - 1; i >= 0 && len(out) < pageAuditEntries; i-- {
		e := all[i]
		out = append(out, web.AuditEntry{At: e.At, Actor: e.Actor, Action: e.Action, Object: e.Object, Before: e.Before, After: e.After})
	}
	return out, nil
}

// deprecatedCounts reads the deprecated-algorithm counters since start.
func (d *Daemon) deprecatedCounts() []web.Deprecated {
	var out []web.Deprecated
	read := func(c prometheus.Collector, label func(map[string]string) string) {
		ch := make(chan prometheus.Metric)
		go func() { c.Collect(ch); close(ch) }()
		for m := range ch {
			var pb dto.Metric
			if m.Write(&pb) != nil || pb.Counter == nil {
				continue
			}
			l := map[string]string{}
			for _, p := range pb.Label {
				l[p.GetName()] = p.GetValue()
			}
			out = append(out, web.Deprecated{IdP: l["idp"], Algorithm: label(l), Count: int64(pb.Counter.GetValue())})
		}
	}
	read(d.metrics.deprecatedAlgos, func(l map[string]string) string { return l["algorithm"] + " (" + l["direction"] + " signature)" })
	read(d.metrics.deprecatedEnc, func(l map[string]string) string { return l["algorithm"] + " (encryption)" })
	slices.SortFunc(out, func(a, b web.Deprecated) int {
		return cmp.Or(cmp.Compare(a.IdP, b.IdP), cmp.Compare(a.Algorithm, b.Algorithm))
	})
	return out
}
