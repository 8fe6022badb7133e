package daemon

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	Records(ctx context.Context) ([]*store.Record, error)
	Property(ctx context.Context, name string) (value string, ok bool, err error)
	ChangeCounter(ctx context.Context) (int64, error)
	mtls.CheckResultStore
	mtls.Locker
	ClaimAlert(ctx context.Context, key string, at time.Time) (first bool, err error)
	Rotations(ctx context.Context, use string) ([]store.Rotation, error)
	RecordMetadataFetch(ctx context.Context, idp string, at time.Time, fingerprints []string) error
	lifecycle.Store
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
	expiries []Expiry // every certificate of records and IdPs (mTLS servers are added from check results)
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
	// Replay remembers assertion IDs across snapshots; nil = a cache of
	// this snapshot's own (fine for one-shot CLI use only).
	Replay sp.ReplayCache
	// IdPMetadata returns the last document fetched from an IdP's
	// metadata_url, or nil; a build never fetches.
	IdPMetadata func(url string) []byte
}

// Build builds a snapshot: it resolves the signing and encryption keystore
// properties (a property in the config overrides the store's), opens each
// keystore through the keys package, builds the signing service and renders
// the metadata once. Any inconsistency is an error naming the record,
// property or IdP, and no snapshot.
func Build(ctx context.Context, cfg *config.Config, st Store, o BuildOptions) (*Snapshot, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	version, err := st.ChangeCounter(ctx)
	if err != nil {
		return nil, fmt.Errorf("read store change counter: %w", err)
	}
	records, err := st.Records(ctx)
	if err != nil {
		return nil, fmt.Errorf("read certificate records: %w", err)
	}
	byID := make(map[string]*store.Record, len(records))
	for _, r := range records {
		byID[r.ID] = r
	}
	idx := newRecordIndex(records)

	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		if _, _, err := lifecycle.PolicyOf(cfg, use); err != nil {
			return nil, err
		}
	}
	ks := &keys.KeySet{}
	uses := map[string]string{}
	for _, p := range []struct {
		name string
		use  keys.Use
		list *[]*keys.Credential
	}{
		{store.PropSigningKeystore, keys.UseSigning, &ks.Signing},
		{store.PropEncryptionKeystore, keys.UseEncryption, &ks.Encryption},
	} {
		id, err := property(ctx, cfg, st, p.name)
		if err != nil {
			return nil, err
		}
		rec, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("property %s = %q: no certificate record has that id (samlkeyd cert list)", p.name, id)
		}
		if !rec.Active {
			return nil, fmt.Errorf("property %s: certificate record %s (%q) is inactive (samlkeyd cert activate %s)", p.name, rec.ID, rec.Name, rec.ID)
		}
		cred, err := credential(rec, p.use)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", p.name, err)
		}
		*p.list = append(*p.list, cred)
		uses[rec.ID] = joinUse(uses[rec.ID], string(p.use))
		rolled, err := rotatedCredentials(ctx, cfg, st, byID, p.use, rec.ID, now())
		if err != nil {
			return nil, err
		}
		for _, c := range rolled {
			*p.list = append(*p.list, c)
			uses[c.RecordID] = joinUse(uses[c.RecordID], string(p.use)+"-"+string(c.Role))
		}
	}

	if err := selfTest(ks); err != nil {
		return nil, err
	}
	svc, err := sp.New(sp.Settings{
		EntityID:     cfg.SP.EntityID,
		ACS:          cfg.SP.ACS,
		IdPs:         cfg.IdPs,
		Signing:      ks.Current(keys.UseSigning),
		Rand:         rnd,
		Now:          now,
		Logger:       o.Logger,
		OnDeprecated: o.OnDeprecated,
	})
	if err != nil {
		return nil, fmt.Errorf("build signing service: %w", err)
	}
	var publishedSigning *x509.Certificate
	if len(ks.Signing) > 0 {
		publishedSigning = ks.Signing[0].Leaf()
	}
	if err := messageSelfTest(svc, cfg, publishedSigning, now()); err != nil {
		return nil, err
	}
	ridps, err := responseIdPs(cfg, idx, o.IdPMetadata, now())
	if err != nil {
		return nil, err
	}
	acsURLs := make([]string, 0, len(cfg.SP.ACS))
	for _, e := range cfg.SP.ACS {
		acsURLs = append(acsURLs, e.Location)
	}
	responses, err := sp.NewResponseValidator(sp.ResponseSettings{
		EntityID:   cfg.SP.EntityID,
		ACSURLs:    acsURLs,
		Decryption: ks.Encryption,
		IdPs:       ridps,
		AllowRSA15: cfg.SP.AllowRSA15,
		ClockSkew:  cfg.SP.ClockSkew,
		Now:        now,
		Rand:       rnd,
		Logger:     o.Logger,
		Replay:     o.Replay,
	})
	if err != nil {
		return nil, fmt.Errorf("build response validation: %w", err)
	}
	checks, err := mtls.Build(cfg.Profiles, cfg.Checks, idx.resolveProfile)
	if err != nil {
		return nil, fmt.Errorf("build mTLS checks: %w", err)
	}
	for _, p := range cfg.Profiles {
		if r, err := idx.find(p.Keystore); err == nil {
			uses[r.ID] = joinUse(uses[r.ID], "mtls")
		}
	}
	built := now()
	pub, err := metadata.Build(metadata.Input{
		SP:                  cfg.SP,
		AuthnRequestsSigned: svc.AuthnRequestsSigned(),
		Keys:                ks,
		EncryptionMethods:   sp.EncryptionMethods(),
		Now:                 built,
	})
	if err != nil {
		return nil, fmt.Errorf("render metadata: %w", err)
	}
	tokens, err := newTokenSet(cfg.API.Tokens)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{
		Config: cfg, Keys: ks, Metadata: pub, SP: svc, Responses: responses, Checks: checks,
		Built: built, StoreVersion: version, tokens: tokens,
	}
	snap.expiries = append(recordExpiries(records, uses), idpExpiries(ridps)...)
	for _, r := range records {
		use := uses[r.ID]
		switch {
		case use != "":
		case r.Type == store.TypeTrustStoreCert:
			use = "trust"
		default:
			use = "unused"
		}
		if !r.NotAfter.IsZero() {
			snap.Certificates = append(snap.Certificates, CertFact{ID: r.ID, Name: r.Name, Use: use, NotAfter: r.NotAfter})
		}
	}
	return snap, nil
}

// rotatedCredentials returns a use's next key (published, not yet used) and
// its retired keys still inside retire_after, next first, then the most
// recently retired.
func rotatedCredentials(ctx context.Context, cfg *config.Config, st Store, byID map[string]*store.Record, use keys.Use, currentID string, now time.Time) ([]*keys.Credential, error) {
	rots, err := st.Rotations(ctx, string(use))
	if err != nil {
		return nil, fmt.Errorf("read %s rotation: %w", use, err)
	}
	var retireAfter time.Duration
	if p, ok, _ := lifecycle.PolicyOf(cfg, use); ok {
		retireAfter = p.RetireAfter
	}
	var next, previous []*keys.Credential
	for i := len(rots) - 1; i >= 0; i-- {
		r := rots[i]
		rec, ok := byID[r.RecordID]
		if !ok || r.RecordID == currentID || !rec.Active {
			continue
		}
		var role keys.Role
		switch {
		case r.State == store.RotationNext:
			role = keys.RoleNext
		case r.State == store.RotationRetired && now.Before(r.RetiredAt.Add(retireAfter)):
			role = keys.RolePrevious
		default:
			continue
		}
		c, err := credential(rec, use)
		if err != nil {
			return nil, fmt.Errorf("%s key %s: %w", role, r.RecordID, err)
		}
		c.Role = role
		if role == keys.RoleNext {
			next = append(next, c)
		} else {
			previous = append(previous, c)
		}
	}
	return append(next, previous...), nil
}

func joinUse(have, add string) string {
	if have == "" {
		return add
	}
	return have + "+" + add
}

// property returns a keystore property: the config's value when the config
// sets it, else the store's.
func property(ctx context.Context, cfg *config.Config, st Store, name string) (string, error) {
	for _, p := range cfg.Properties {
		if p.Name == name {
			return p.Value, nil
		}
	}
	v, ok, err := st.Property(ctx, name)
	if err != nil {
		return "", fmt.Errorf("read property %s: %w", name, err)
	}
	if !ok || v == "" {
		return "", fmt.Errorf("property %s is not set (samlkeyd property set %s <record id>)", name, name)
	}
	return v, nil
}

// credential opens a keystore record and returns its private key and chain.
func credential(rec *store.Record, use keys.Use) (*keys.Credential, error) {
	ks, err := keys.Parse(rec.Data, rec.StorePassword, rec.KeyPassword)
	if err != nil {
		return nil, fmt.Errorf("open certificate record %s (%q): %w", rec.ID, rec.Name, err)
	}
	e, err := ks.PrivateKeyEntry(rec.Alias)
	if err != nil {
		if errors.Is(err, keys.ErrNoPrivateKey) {
			return nil, fmt.Errorf("certificate record %s (%q) holds no private key: a %s keystore needs one", rec.ID, rec.Name, use)
		}
		return nil, fmt.Errorf("certificate record %s (%q) alias %q: %w", rec.ID, rec.Name, rec.Alias, err)
	}
	return &keys.Credential{
		RecordID: rec.ID, RecordName: rec.Name, Use: use, Role: keys.RoleCurrent,
		Signer: e.Key, Chain: e.Chain,
	}, nil
}
