package daemon

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/samlkeyd/samlkeyd/alert"
	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// Store is what a snapshot is built from. *store.Store satisfies it; it MUST
// be safe for concurrent use.
type Store interface {
	lifecycle.Store // properties, records, rotation state, metadata fetches, the lock
	// RecordFacts lists every record without content; Record reads one
	// record in use with its content.
	RecordFacts(ctx context.Context) ([]*store.Record, error)
	RecordVersions(ctx context.Context) ([]store.RecordVersion, error)
	ChangeCounter(ctx context.Context) (int64, error)
	mtls.CheckResultStore
	ClaimAlert(ctx context.Context, key string, at time.Time) (first bool, err error)
	RecordMetadataFetch(ctx context.Context, idp string, at time.Time, fingerprints []string) error
}

var _ Store = (*store.Store)(nil)

// Snapshot is everything one request needs, built together and never
// modified: metadata, PEM and signatures always come from the same keys.
type Snapshot struct {
	Config       *config.Config
	Keys         *keys.KeySet
	Metadata     *metadata.Published
	SP           *sp.Service
	Responses    *sp.ResponseValidator // decrypts and validates IdP responses with the encryption keys
	Checks       []*mtls.Check         // outbound mTLS health checks, bound to their profiles' keys
	Certificates []CertFact            // every certificate record, for metrics and expiry
	Built        time.Time
	StoreVersion int64 // the store's change counter the snapshot was built from
	// Components is the state of every component the snapshot was
	// assembled from (core, idp, profile, check, rotation, alerts), in
	// build order. Only a failed core fails a build.
	Components []ComponentStatus

	tokens      *tokenSet
	expiries    []Expiry          // every certificate of records and IdPs (mTLS servers are added from check results)
	files       *metadata.Handler // serves this snapshot's metadata and certificate files
	core        *core
	recordIdx   recordIndex          // the records by id and name (idp_sources signing_cert, sources.go)
	idps        map[string]*idpState // by IdP name
	sinks       []alert.Sink         // nil when the alerts component failed
	cache       *buildCache          // what the next build may reuse
	records     []*store.Record      // the records' public facts the snapshot was built from
	ridps       []sp.ResponseIdP     // the healthy IdPs' response-validation records
	idpExpiries []Expiry             // their signing certificates' expiries
}

// Failed returns the components that failed.
func (s *Snapshot) Failed() []ComponentStatus {
	var out []ComponentStatus
	for _, c := range s.Components {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// IdPUnavailable says why the IdP name may not be used at now (it failed
// to build, or its metadata expired since), or nil.
func (s *Snapshot) IdPUnavailable(name string, now time.Time) error {
	return s.idps[name].usable(name, now)
}

// refreshAt is when the snapshot must be rebuilt even if nothing changed:
// the metadata's refresh time, or an IdP's metadata expiring first.
func (s *Snapshot) refreshAt() time.Time {
	at := s.Metadata.RefreshAt()
	for _, st := range s.idps {
		if st.err == nil {
			at = earliest(at, st.trustUntil)
		}
	}
	return at
}

// Published implements metadata.Source: a snapshot serves its own
// rendering (nil before the first snapshot, which the handlers answer 503).
func (s *Snapshot) Published() *metadata.Published {
	if s == nil {
		return nil
	}
	return s.Metadata
}

// serveFiles serves the metadata and certificate routes from s.
func (s *Snapshot) serveFiles(w http.ResponseWriter, r *http.Request) {
	if s == nil {
		metadata.NewHandler(s, nil).ServeHTTP(w, r)
		return
	}
	s.files.ServeHTTP(w, r)
}

// CertFact is one certificate record's expiry, labelled by what it is used for.
type CertFact struct {
	ID, Name, Use string
	NotAfter      time.Time
}

// BuildOptions are a build's injected dependencies; nil fields take defaults.
type BuildOptions struct {
	Now          func() time.Time
	Rand         io.Reader
	Logger       *slog.Logger
	OnDeprecated func(idp, alg string)
	// OnDeprecatedInbound and OnDeprecatedEncryption count IdP signatures
	// with SHA-1 (allow_sha1) and CBC content encryption, per IdP.
	OnDeprecatedInbound, OnDeprecatedEncryption func(idp, alg string)
	// Replay remembers assertion IDs across snapshots; nil = a cache of
	// this snapshot's own (fine for one-shot CLI use only).
	Replay sp.ReplayCache
	// IdPMetadata returns the last document fetched from an IdP's
	// metadata_url, or nil; a build never fetches.
	IdPMetadata func(url string) []byte
	// Previous is the snapshot being served: components whose inputs did
	// not change are taken from it, keystores and IdP documents it parsed
	// are not parsed again. Nil builds everything.
	Previous *Snapshot
	// OnOpen is called with the id of each record whose content a build
	// reads to open it (a cache miss); tests count opens with it.
	OnOpen func(id string)
}

func (o BuildOptions) withDefaults() BuildOptions {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Build builds a snapshot from components: it resolves the signing and
// encryption keystore properties (a property in the config overrides the
// store's) and builds the core (keys, signing service, metadata), then one
// component per IdP, per protocol profile and check, per rotation policy,
// and the alert sinks. Records are listed by their public facts; only
// records in use are read and opened, once per version (o.Previous's
// cache). A core that does not build is an error naming the record or
// property, and no snapshot; any other failing component is reported in
// Snapshot.Components and left out, its neighbours unaffected.
func Build(ctx context.Context, cfg *config.Config, st Store, o BuildOptions) (_ *Snapshot, err error) {
	o = o.withDefaults()
	b := &builder{cfg: cfg, st: st, o: o, prev: o.Previous, uses: map[string]string{}}
	var prevCache *buildCache
	if o.Previous != nil {
		prevCache = o.Previous.cache
	}
	b.open = &opener{module: cfg.PKCS11.Module, ctx: ctx, st: st, cache: newBuildCache(prevCache), onOpen: o.OnOpen}
	defer func() {
		if err != nil {
			b.open.cache.closeOpened() // token keys no snapshot will hold
		}
	}()
	if err := b.readStore(ctx); err != nil {
		return nil, err
	}
	c, err := b.buildCore(ctx)
	if err != nil {
		return nil, err
	}
	b.report(KindCore, "core", nil)
	var ridps []sp.ResponseIdP
	var idps map[string]*idpState
	var responses *sp.ResponseValidator
	var idpExp []Expiry
	if b.idpsUnchanged(c) {
		ridps, idps, responses = b.reuseIdPs()
		idpExp = b.prev.idpExpiries
	} else {
		ridps, idps = b.responseIdPs()
		if responses, err = b.responseValidator(c.keys, ridps); err != nil {
			return nil, err
		}
		idpExp = idpExpiries(ridps, b.open.certExpiry)
	}
	tokens, err := storeTokens(ctx, cfg.API.Tokens, b.st, b.o.Now(), b.o.Logger)
	if err != nil {
		return nil, err
	}
	checks := b.mtlsChecks()
	b.checkPolicies()
	sinks := b.alertSinks()
	snap := &Snapshot{
		Config: cfg, Keys: c.keys, Metadata: c.metadata, SP: c.sp, Responses: responses, Checks: checks,
		Certificates: certificateFacts(b.records, b.uses),
		Built:        o.Now(), StoreVersion: b.version, tokens: tokens,
		expiries:   append(recordExpiries(b.records, b.uses, b.open.chain, b.open.certExpiry), idpExp...),
		Components: b.status, core: c, idps: idps, sinks: sinks, cache: b.open.cache, records: b.records, recordIdx: b.idx, ridps: ridps, idpExpiries: idpExp,
	}
	snap.files = metadata.NewHandler(snap, b.o.Logger)
	return snap, nil
}

// alertSinks builds the alert sinks component, or takes the previous
// snapshot's when the alerts section did not change.
func (b *builder) alertSinks() []alert.Sink {
	if p := b.prev; p != nil && p.sinks != nil && reflect.DeepEqual(p.Config.Alerts, b.cfg.Alerts) {
		b.report(KindAlerts, "sinks", nil)
		return p.sinks
	}
	sinks, err := alertSinks(b.cfg, b.o.Logger)
	b.report(KindAlerts, "sinks", err)
	return sinks
}

// withRenewedMetadata is s with its metadata rendered again at now from
// the same core: the SP's metadata is renewed on its timer even when a
// rebuild fails.
func (s *Snapshot) withRenewedMetadata(now time.Time, log *slog.Logger) (*Snapshot, error) {
	pub, err := renderMetadata(s.Config, s.SP, s.Keys, now)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Metadata, c.Built = pub, now
	if s.core != nil {
		cc := *s.core
		cc.metadata = pub
		c.core = &cc
	}
	c.files = metadata.NewHandler(&c, log)
	return &c, nil
}
