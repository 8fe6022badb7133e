package daemon

import (
	"bytes"
	"container/list"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// IdPs from a federation (idp_sources): the daemon holds one
// *idpmeta.Sources, rebuilt only when the idp_sources section or the
// certificates of the signing_cert records it names change, and kept
// across every other snapshot, so that an aggregate's index is never
// rebuilt for an unrelated change. sourcesLoop refreshes the aggregates;
// the API handlers fall back to the sources for an idp that is not a named
// idps record (fedService, fedValidator).

const (
	sourcesEvery       = time.Minute     // how often sourcesLoop looks for aggregates due
	sourceFetchTimeout = 5 * time.Minute // one aggregate's fetch, verification and indexing
	fedCacheSize       = 1000            // per-entity services kept (LRU), cleared at each swap
)

// fedSources is the daemon's idp_sources state. The zero value holds no
// sources.
type fedSources struct {
	cur      atomic.Pointer[fedSet]
	kickOnce sync.Once
	kickCh   chan struct{} // wakes sourcesLoop after the sources were rebuilt

	mu    sync.Mutex
	since map[string]sourceSince // the last status of each source, for Since
	cache fedCache
}

// fedSet is one build of the sources and what it was built from.
type fedSet struct {
	src     *idpmeta.Sources
	cfg     []config.IdPSource
	signers map[string][]byte // signing_cert → DER of the certificate used
	err     error             // why the sources could not be built (src is then the previous one, or nil)
}

type sourceSince struct {
	ok    bool
	since time.Time
}

// sourcesSwapped runs as s goes into service: the sources are rebuilt when
// s's idp_sources section, or a signer certificate it names, differs from
// the one they were built from; the per-entity cache starts afresh.
func (d *Daemon) sourcesSwapped(s *Snapshot) {
	f := &d.fed
	f.cache.clear()
	prev := f.cur.Load()
	cfg := s.Config.IdPSources
	if len(cfg) == 0 {
		if prev != nil {
			f.cur.Store(nil)
		}
		return
	}
	signers, certs, err := resolveSigners(cfg, s.recordIdx)
	if prev != nil && prev.err == nil && err == nil && reflect.DeepEqual(prev.cfg, cfg) && sameDER(prev.signers, signers) {
		return
	}
	next := &fedSet{cfg: cfg, signers: signers, err: err}
	if err == nil {
		next.src, next.err = idpmeta.FromConfig(cfg, func(name string) (*x509.Certificate, error) { return certs[name], nil },
			d.metaFetcher, d.now)
	}
	if next.err != nil {
		d.log.Error("idp_sources not rebuilt; the previous sources (if any) stay in use", "err", next.err)
		if prev != nil {
			next.src = prev.src
		}
	}
	f.cur.Store(next)
	if next.err == nil {
		select {
		case f.kick() <- struct{}{}:
		default:
		}
	}
}

func (f *fedSources) kick() chan struct{} {
	f.kickOnce.Do(func() { f.kickCh = make(chan struct{}, 1) })
	return f.kickCh
}

// resolveSigners returns each signing_cert record's certificate (the
// first of the trust-store record, as metadata_signing_cert is resolved)
// and its DER.
func resolveSigners(cfg []config.IdPSource, idx recordIndex) (map[string][]byte, map[string]*x509.Certificate, error) {
	ders := map[string][]byte{}
	certs := map[string]*x509.Certificate{}
	for i, c := range cfg {
		if _, done := certs[c.SigningCert]; done {
			continue
		}
		list, err := idx.trustCerts(c.SigningCert)
		if err == nil && len(list) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("idp_sources[%d] (%s) signing_cert %q: %w", i, c.Name, c.SigningCert, err)
		}
		certs[c.SigningCert], ders[c.SigningCert] = list[0], list[0].Raw
	}
	return ders, certs, nil
}

func sameDER(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// sources returns the sources in use, or nil.
func (d *Daemon) sources() *idpmeta.Sources {
	if set := d.fed.cur.Load(); set != nil {
		return set.src
	}
	return nil
}

// sourcesLoop updates the aggregates that are due now, every minute, and
// at once after the sources were rebuilt. A failed aggregate keeps its
// last good index (idpmeta does that) and is logged.
func (d *Daemon) sourcesLoop(ctx context.Context) {
	t := time.NewTicker(sourcesEvery)
	defer t.Stop()
	for {
		d.updateSources(ctx)
		d.reportSources()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.fed.kick():
		}
	}
}

// updateSources updates each aggregate source that is due, each under a
// deadline of its own.
func (d *Daemon) updateSources(ctx context.Context) {
	defer d.recoverJob("idp_sources refresh")
	src := d.sources()
	if src == nil {
		return
	}
	for _, s := range src.List() {
		a, ok := s.(*idpmeta.AggregateSource)
		if !ok || !a.Due(d.now()) {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, sourceFetchTimeout)
		changed, errs := idpmeta.NewSources(nil, a).UpdateDue(fctx, d.now())
		cancel()
		for _, err := range errs {
			if ctx.Err() == nil {
				d.log.Warn("idp_sources: aggregate not updated; the last good copy stays in use until it expires", "source", a.Name(), "err", err)
			}
		}
		if len(changed) > 0 {
			d.log.Info("idp_sources: aggregate updated", "source", a.Name(), "entities", a.State().Aggregate.Len())
		}
	}
}

// SourceComponent is one idp_sources entry as a component of /readyz and
// the status pages: OK while lookups can succeed; Err is the last
// attempt's (with OK, the last good copy is still in use); Since is when
// OK last changed (as this daemon saw it).
type SourceComponent struct {
	Name  string
	OK    bool
	Err   error
	Since time.Time
}

// reportSources puts each source's state in the component registry
// (/readyz, samlkeyd_component_up, component alerts); a source no longer
// configured is forgotten.
func (d *Daemon) reportSources() {
	var list []ComponentStatus
	for _, c := range d.SourceComponents() {
		err := c.Err
		if !c.OK && err == nil {
			err = errors.New("no usable metadata")
		}
		list = append(list, status(KindIdPSource, c.Name, err, d.now()))
	}
	d.components.replace(list, []string{KindIdPSource})
}

// SourceComponents reports each idp_sources entry; a section that could
// not be built (a signing_cert record missing) is one failed component
// named "idp_sources".
func (d *Daemon) SourceComponents() []SourceComponent {
	set := d.fed.cur.Load()
	if set == nil {
		return nil
	}
	now := d.now()
	var out []SourceComponent
	if set.err != nil {
		out = append(out, SourceComponent{Name: "idp_sources", Err: set.err})
	}
	if set.src != nil {
		for _, st := range set.src.Status(now) {
			out = append(out, SourceComponent{Name: st.Name, OK: st.Up, Err: st.Err})
		}
	}
	f := &d.fed
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.since == nil {
		f.since = map[string]sourceSince{}
	}
	for i, c := range out {
		prev, seen := f.since[c.Name]
		if !seen || prev.ok != c.OK {
			prev = sourceSince{ok: c.OK, since: now}
			f.since[c.Name] = prev
		}
		out[i].Since = prev.since
	}
	return out
}

// fedEntry is the signing service and response validator of one source IdP
// for one snapshot, built from entity (rebuilt when the source's entity
// changes).
type fedEntry struct {
	entity *idpmeta.Entity
	svc    *sp.Service
	resp   *sp.ResponseValidator
	err    error
}

// fedIdP resolves an idp that is not a named record: a named record with
// that entity id wins (named is its name); otherwise the sources' entity,
// with its service and validator. ok is false when the sources do not have
// it (the caller answers as for an unknown IdP).
func (d *Daemon) fedIdP(ctx context.Context, snap *Snapshot, idp string) (named string, e *fedEntry, ok bool) {
	for _, p := range snap.Config.IdPs {
		if p.EntityID == idp && p.Name != idp {
			return p.Name, nil, true
		}
	}
	src := d.sources()
	if src == nil || idp == "" {
		return "", nil, false
	}
	ent, err := src.Lookup(ctx, idp)
	if err != nil {
		if len(joined(err)) > 1 { // a source could not answer
			d.log.Warn("idp_sources lookup", "idp", idp, "err", err)
		}
		return "", nil, false
	}
	key := fedKey{snap: snap, id: idp}
	if e, ok := d.fed.cache.get(key); ok && e.entity == ent {
		return "", e, true
	}
	e = buildFedEntry(snap, src, ent, d.fedBuildOptions())
	if e.err != nil {
		d.log.Warn("idp_sources: IdP not usable", "idp", idp, "source", ent.Source, "err", e.err)
	}
	d.fed.cache.put(key, e)
	return "", e, true
}

// joined returns the errors err joins (one when it joins none).
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// buildFedEntry builds one source IdP's service and validator with the
// snapshot's keys and SP-wide settings, as Build does for named records
// (o with its defaults).
func buildFedEntry(snap *Snapshot, src *idpmeta.Sources, ent *idpmeta.Entity, o BuildOptions) *fedEntry {
	e := &fedEntry{entity: ent}
	scfg := src.Config(ent.Source)
	cidp, err := ent.ConfigIdP(scfg)
	if err != nil {
		e.err = err
		return e
	}
	cfg := snap.Config
	e.svc, err = sp.New(sp.Settings{
		EntityID: cfg.SP.EntityID, ACS: cfg.SP.ACS, IdPs: []config.IdP{cidp},
		Signing: snap.Keys.Current(keys.UseSigning), Rand: o.Rand, Now: o.Now, Logger: o.Logger, OnDeprecated: o.OnDeprecated,
	})
	if err != nil {
		e.err = fmt.Errorf("build signing service for idp %q: %w", ent.EntityID, err)
		return e
	}
	ridp, err := ent.ResponseIdP(scfg)
	if err != nil {
		e.err = err
		return e
	}
	ridp.WantAssertionSigned, ridp.RefuseCBC = cfg.SP.WantAssertionsSigned, !cfg.IdPAllowsCBC(cidp)
	acsURLs := make([]string, 0, len(cfg.SP.ACS))
	for _, a := range cfg.SP.ACS {
		acsURLs = append(acsURLs, a.Location)
	}
	e.resp, err = sp.NewResponseValidator(sp.ResponseSettings{
		EntityID: cfg.SP.EntityID, ACSURLs: acsURLs, SLOURLs: sloURLs(cfg.SP.SLO), Decryption: snap.Keys.Encryption, IdPs: []sp.ResponseIdP{ridp},
		AllowRSA15: cfg.SP.AllowRSA15, ClockSkew: cfg.SP.ClockSkew, Now: o.Now, Rand: o.Rand, Logger: o.Logger,
		Replay: o.Replay, Limits: sp.LimitsFrom(cfg.SP.Limits),
		OnDeprecatedSignature: o.OnDeprecatedInbound, OnDeprecatedEncryption: o.OnDeprecatedEncryption,
	})
	if err != nil {
		e.err = fmt.Errorf("build response validation for idp %q: %w", ent.EntityID, err)
	}
	return e
}

// fedBuildOptions are the daemon's build options (as its build uses)
// for a source IdP's service and validator.
func (d *Daemon) fedBuildOptions() BuildOptions {
	return BuildOptions{
		Now: d.now, Rand: d.opts.Rand, Logger: d.log, Replay: d.replay,
		OnDeprecated:           func(idp, alg string) { d.metrics.deprecatedAlgos.WithLabelValues(idp, alg, "outbound").Inc() },
		OnDeprecatedInbound:    func(idp, alg string) { d.metrics.deprecatedAlgos.WithLabelValues(idp, alg, "inbound").Inc() },
		OnDeprecatedEncryption: func(idp, alg string) { d.metrics.deprecatedEnc.WithLabelValues(idp, alg).Inc() },
	}.withDefaults()
}

// Federated resolves idp, the entity id of an IdP that is not a named
// record, through snap's idp_sources, once and offline (the CLI's sign and
// response verify): the sources are built from the snapshot's records,
// each aggregate read or fetched and verified, an MDQ service asked. A
// named record with that entity id wins: its name and the snapshot's own
// service and validator are returned. An IdP no source has is an error
// wrapping sp.ErrUnknownIdP.
func Federated(ctx context.Context, snap *Snapshot, idp string, o BuildOptions) (svc *sp.Service, v *sp.ResponseValidator, name string, err error) {
	for _, p := range snap.Config.IdPs {
		if p.EntityID == idp {
			return snap.SP, snap.Responses, p.Name, nil
		}
	}
	if len(snap.Config.IdPSources) == 0 {
		return nil, nil, "", fmt.Errorf("%w %q", sp.ErrUnknownIdP, idp)
	}
	o = o.withDefaults()
	_, certs, err := resolveSigners(snap.Config.IdPSources, snap.recordIdx)
	if err != nil {
		return nil, nil, "", err
	}
	src, err := idpmeta.FromConfig(snap.Config.IdPSources, func(n string) (*x509.Certificate, error) { return certs[n], nil }, nil, o.Now)
	if err != nil {
		return nil, nil, "", err
	}
	_, errs := src.UpdateDue(ctx, o.Now())
	ent, err := src.Lookup(ctx, idp)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w %q: %w", sp.ErrUnknownIdP, idp, errors.Join(append([]error{err}, errs...)...))
	}
	e := buildFedEntry(snap, src, ent, o)
	if e.err != nil {
		return nil, nil, "", e.err
	}
	return e.svc, e.resp, idp, nil
}

// fedService returns the service that signs messages to idp when idp is
// not a named record: the named record with that entity id (as name), or
// the sources' IdP. ok is false when neither knows it.
func (d *Daemon) fedService(ctx context.Context, snap *Snapshot, idp string) (svc *sp.Service, name string, ok bool) {
	named, e, ok := d.fedIdP(ctx, snap, idp)
	switch {
	case !ok:
		return nil, "", false
	case named != "":
		return snap.SP, named, true
	case e.err != nil:
		return nil, "", false
	}
	return e.svc, idp, true
}

// fedValidator is fedService for response validation.
func (d *Daemon) fedValidator(ctx context.Context, snap *Snapshot, idp string) (v *sp.ResponseValidator, name string, ok bool) {
	named, e, ok := d.fedIdP(ctx, snap, idp)
	switch {
	case !ok:
		return nil, "", false
	case named != "":
		return snap.Responses, named, true
	case e.err != nil:
		return nil, "", false
	}
	return e.resp, idp, true
}

// signFederated retries a message whose idp sp did not know with the
// federation fallback; any other outcome is returned as it was.
func (d *Daemon) signFederated(ctx context.Context, snap *Snapshot, idp string, msg *sp.Message, err error, sign func(*sp.Service, string) (*sp.Message, error)) (*sp.Message, error) {
	if !errors.Is(err, sp.ErrUnknownIdP) {
		return msg, err
	}
	svc, name, ok := d.fedService(ctx, snap, idp)
	if !ok {
		return msg, err
	}
	return sign(svc, name)
}

// verifyFederated retries a response whose idp the snapshot's validator
// did not know with the federation fallback.
func (d *Daemon) verifyFederated(ctx context.Context, snap *Snapshot, req responseRequest, a *sp.Assertion, err error) (*sp.Assertion, error) {
	var re *sp.ResponseError
	if !errors.As(err, &re) || re.Check != sp.CheckUnknownIdP {
		return a, err
	}
	v, name, ok := d.fedValidator(ctx, snap, req.IdP)
	if !ok {
		return a, err
	}
	return v.Verify(ctx, name, req.SAMLResponse, req.RequestID)
}

// fedKey is a per-entity cache key: entries of an older snapshot are never
// used for a newer one.
type fedKey struct {
	snap *Snapshot
	id   string
}

// fedCache is a small LRU of per-entity services.
type fedCache struct {
	mu    sync.Mutex
	order *list.List // of *fedItem, most recent first
	items map[fedKey]*list.Element
}

type fedItem struct {
	key fedKey
	e   *fedEntry
}

func (c *fedCache) get(k fedKey) (*fedEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*fedItem).e, true
}

func (c *fedCache) put(k fedKey, e *fedEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items == nil {
		c.items, c.order = map[fedKey]*list.Element{}, list.New()
	}
	if el, ok := c.items[k]; ok {
		el.Value.(*fedItem).e = e
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&fedItem{key: k, e: e})
	for c.order.Len() > fedCacheSize {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*fedItem).key)
	}
}

func (c *fedCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items, c.order = nil, nil
}

func (c *fedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
