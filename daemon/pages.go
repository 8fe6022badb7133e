package daemon

import (
	"context"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/web"
)

// adminRefresh is how stale the operator page and /api/v1/status may be.
// Check results, rotation steps and audit entries are written by parts that
// do not (and, for the CLI, cannot) tell the daemon, so the operator view is
// rebuilt from the store at most once per window per snapshot: a handful of
// store reads every 10 s while someone looks, none otherwise.
const adminRefresh = 10 * time.Second

// storeTimeout bounds the store reads of one page render; a render runs
// under the page cache's lock, so a slow store must not hold it long.
const storeTimeout = 5 * time.Second

// pages is the daemon's state behind the web status pages: one web handler
// (its sessions live as long as the daemon), the two page caches and the
// last view /api/v1/status shares with the operator page.
type pages struct {
	once    sync.Once
	handler atomic.Pointer[web.Handler]
	public  web.Cache[*Snapshot]
	admin   web.Cache[adminKey]

	viewMu sync.Mutex
	view   *adminEntry // the operator view of one window; guarded by viewMu

	failure atomic.Pointer[buildFailure] // the last failed rebuild
}

// adminKey is the operator page's cache key: the snapshot and the
// adminRefresh window the view was read in.
type adminKey struct {
	snap   *Snapshot
	window int64
}

type adminEntry struct {
	key  adminKey
	view web.Admin
}

// buildFailure is one rebuild that was rejected.
type buildFailure struct {
	trigger string
	err     string
	at      time.Time
}

// webHandler returns the daemon's one web handler, made on first use.
func (d *Daemon) webHandler() *web.Handler {
	d.pages.once.Do(func() {
		d.pages.public.Now = d.now
		d.pages.admin.Now = d.now
		d.pages.handler.Store(web.NewHandler(web.Options{
			Public:            d.publicPage,
			Admin:             d.adminPage,
			CheckAdminToken:   d.isAdminToken,
			Now:               d.now,
			Rand:              d.opts.Rand,
			SecureCookiesFunc: d.secureCookies,
			Log:               d.log.With("component", "web"),
		}))
	})
	return d.pages.handler.Load()
}

// isAdminToken reports whether token is configured with the admin scope in
// the serving snapshot (the newest: a revoked token stops at once).
func (d *Daemon) isAdminToken(token string) bool {
	s := d.snap.Load()
	if s == nil {
		return false
	}
	t, ok := s.tokens.lookup(token, d.now())
	return ok && slices.Contains(t.scopes, ScopeAdmin)
}

func (d *Daemon) secureCookies() bool {
	s := d.snap.Load()
	return s != nil && strings.HasPrefix(s.Config.SP.BaseURL, "https://")
}

// pagesSwapped ends every operator session when the admin tokens of the new
// snapshot differ from the previous one's, so a revoked token loses its
// sessions too.
func (d *Daemon) pagesSwapped(prev, next *Snapshot) {
	h := d.pages.handler.Load()
	if h == nil || prev == nil || adminTokensEqual(prev.tokens, next.tokens) {
		return
	}
	h.Sessions().Clear()
	d.log.Info("admin tokens changed: operator page sessions ended")
}

func adminTokensEqual(a, b *tokenSet) bool {
	admins := func(ts *tokenSet) []string {
		var out []string
		for _, t := range ts.tokens {
			if slices.Contains(t.scopes, ScopeAdmin) {
				out = append(out, string(t.sum[:]))
			}
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(admins(a), admins(b))
}

// noteBuildFailure remembers a rejected rebuild for the operator page.
func (d *Daemon) noteBuildFailure(trigger string, err error) {
	d.pages.failure.Store(&buildFailure{trigger: trigger, err: err.Error(), at: d.now()})
}

// publicPage is the public page of the request's snapshot.
func (d *Daemon) publicPage(r *http.Request) *web.Page {
	snap := d.requestSnapshot(r)
	if snap == nil {
		return nil
	}
	p, err := d.pages.public.Get(snap, func(now time.Time) (*web.Page, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		defer cancel()
		v, ok := d.publicView(ctx, snap, now)
		p, err := web.RenderPublic(v)
		if err == nil && !ok && p.StaleAt.After(now.Add(adminRefresh)) {
			p.StaleAt = now.Add(adminRefresh) // try the store again soon
		}
		return p, err
	})
	if err != nil {
		d.log.Error("render public page", "err", err)
		return nil
	}
	return p
}

// publicView is the public page's view of snap. The dates next keys are
// used from come from the store's rotation state; ok is false when it could
// not be read (the page then says "the next rollover").
func (d *Daemon) publicView(ctx context.Context, snap *Snapshot, now time.Time) (v web.Public, ok bool) {
	cfg := snap.Config
	v = web.Public{
		Now:         now,
		EntityID:    snap.Metadata.EntityID(),
		MetadataURL: strings.TrimSuffix(cfg.SP.BaseURL, "/") + metadata.PathMetadata,
		CertsURL:    metadata.PathCerts,
	}
	for _, e := range cfg.SP.ACS {
		v.ACS = append(v.ACS, web.Endpoint{Binding: e.Binding, Location: e.Location, Index: e.Index, Default: e.Default})
	}
	for _, e := range cfg.SP.SLO {
		v.SLO = append(v.SLO, web.Endpoint{Binding: e.Binding, Location: e.Location, Index: e.Index, Default: e.Default})
	}
	for _, p := range cfg.IdPs {
		if a, err := snap.SP.Algorithm(p.Name); err == nil {
			v.IdPs = append(v.IdPs, web.IdPAlgorithm{Name: p.Name, EntityID: p.EntityID, SignatureAlgorithm: a.Name})
		}
	}
	usedFrom, ok := d.nextUsedFrom(ctx, snap)
	for _, c := range snap.Metadata.Certificates() {
		v.Certs = append(v.Certs, web.Cert{
			Use: string(c.Use), State: string(c.State), Subject: c.Subject, Issuer: c.Issuer,
			Serial: c.Serial, KeyAlgorithm: c.KeyAlgorithm, SHA1: c.SHA1, SHA256: c.SHA256,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter, PEMURL: c.PEMURL, DERURL: c.DERURL,
			UsedFrom: usedFrom[c.Fingerprint.Hex()],
		})
	}
	return v, ok
}

// nextUsedFrom maps the SHA-256 (hex) of each use's next key to when it is
// due for promotion as things stand.
func (d *Daemon) nextUsedFrom(ctx context.Context, snap *Snapshot) (map[string]time.Time, bool) {
	st, err := lifecycle.ReadStatus(ctx, snap.Config, d.opts.Store, d.now())
	if err != nil {
		d.log.Warn("public page: read rotation status", "err", err)
		return nil, false
	}
	out := map[string]time.Time{}
	for _, u := range st.Uses {
		for _, k := range u.Keys {
			if k.State == lifecycle.StateNext && !u.NextPromotion.IsZero() {
				out[strings.ToLower(k.FingerprintSHA256)] = u.NextPromotion
			}
		}
	}
	return out, true
}

// adminPage is the operator page of the request's snapshot, read from the
// store at most once per adminRefresh.
func (d *Daemon) adminPage(r *http.Request) *web.Page {
	snap := d.requestSnapshot(r)
	if snap == nil {
		return nil
	}
	key := d.adminKey(snap)
	p, err := d.pages.admin.Get(key, func(time.Time) (*web.Page, error) {
		v, err := d.adminState(r.Context(), key)
		if err != nil {
			return nil, err
		}
		return web.RenderAdmin(v)
	})
	if err != nil {
		d.log.Error("render operator page", "err", err)
		return nil
	}
	return p
}

func (d *Daemon) adminKey(snap *Snapshot) adminKey {
	return adminKey{snap: snap, window: d.now().UnixNano() / int64(adminRefresh)}
}

// adminState returns the operator view for key, reading the store only
// when the page and /api/v1/status have not read it for key yet.
func (d *Daemon) adminState(ctx context.Context, key adminKey) (web.Admin, error) {
	d.pages.viewMu.Lock()
	defer d.pages.viewMu.Unlock()
	if e := d.pages.view; e != nil && e.key == key {
		return e.view, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	v, err := d.adminView(ctx, key.snap, d.now())
	if err != nil {
		return web.Admin{}, err
	}
	d.pages.view = &adminEntry{key: key, view: v}
	return v, nil
}

// apiStatus answers GET /api/v1/status: the operator page's data as JSON.
func (d *Daemon) apiStatus(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	v, err := d.adminState(r.Context(), d.adminKey(snap))
	if err != nil {
		d.log.Error("status", "actor", actor, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the status could not be read; see the daemon log")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// colonFingerprint turns a hex SHA-256 into the colon form the pages show.
func colonFingerprint(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return h
	}
	return keys.Fingerprint(b).Colon()
}
