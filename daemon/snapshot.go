package daemon

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"time"

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
	Records(ctx context.Context) ([]*store.Record, error)
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

	tokens   *tokenSet
	records  recordIndex       // the certificate records it was built from (idp_sources signing_cert, sources.go)
	expiries []Expiry          // every certificate of records and IdPs (mTLS servers are added from check results)
	files    *metadata.Handler // serves this snapshot's metadata and certificate files
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

// Build builds a snapshot: it resolves the signing and encryption keystore
// properties (a property in the config overrides the store's), opens each
// keystore through the record opener, builds the signing service, the
// response validator and the mTLS checks, and renders the metadata once.
// Any inconsistency is an error naming the record, property or IdP, and no
// snapshot.
func Build(ctx context.Context, cfg *config.Config, st Store, o BuildOptions) (*Snapshot, error) {
	b := &builder{cfg: cfg, st: st, o: o.withDefaults(), uses: map[string]string{}}
	if err := b.readStore(ctx); err != nil {
		return nil, err
	}
	if err := b.checkPolicies(); err != nil {
		return nil, err
	}
	ks, err := b.openKeys(ctx)
	if err != nil {
		return nil, err
	}
	if err := selfTest(ks); err != nil {
		return nil, err
	}
	svc, err := b.signingService(ks)
	if err != nil {
		return nil, err
	}
	ridps, err := responseIdPs(cfg, b.idx, b.o.IdPMetadata, b.o.Now())
	if err != nil {
		return nil, err
	}
	responses, err := b.responseValidator(ks, ridps)
	if err != nil {
		return nil, err
	}
	checks, err := b.mtlsChecks()
	if err != nil {
		return nil, err
	}
	built := b.o.Now()
	pub, err := renderMetadata(cfg, svc, ks, built)
	if err != nil {
		return nil, err
	}
	tokens, err := storeTokens(ctx, cfg.API.Tokens, b.st, b.o.Now(), b.o.Logger)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{
		Config: cfg, Keys: ks, Metadata: pub, SP: svc, Responses: responses, Checks: checks,
		Certificates: certificateFacts(b.records, b.uses),
		Built:        built, StoreVersion: b.version, tokens: tokens, records: b.idx,
		expiries: append(recordExpiries(b.records, b.uses), idpExpiries(ridps)...),
	}
	snap.files = metadata.NewHandler(snap, b.o.Logger)
	return snap, nil
}
