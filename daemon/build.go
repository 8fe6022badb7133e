package daemon

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// builder carries one Build's inputs from step to step.
type builder struct {
	cfg  *config.Config
	st   Store
	o    BuildOptions
	prev *Snapshot // components whose inputs did not change are taken from it
	open *opener

	version int64             // the store's change counter read first
	records []*store.Record   // every certificate record's public facts (no content)
	idx     recordIndex       // records by id and by name
	uses    map[string]string // record id → what it is used for ("signing+encryption-next", "mtls", …)
	status  []ComponentStatus // every component's state, in build order
}

// readStore reads the change counter, then every certificate record's
// public facts (no keystore content: only records in use are read whole).
// When every record's version is the one the previous snapshot listed
// (a property or config change), its facts are reused.
func (b *builder) readStore(ctx context.Context) error {
	version, err := b.st.ChangeCounter(ctx)
	if err != nil {
		return fmt.Errorf("read store change counter: %w", err)
	}
	records, err := b.recordFacts(ctx)
	if err != nil {
		return fmt.Errorf("read certificate records: %w", err)
	}
	b.version, b.records, b.idx = version, records, newRecordIndex(records)
	return nil
}

func (b *builder) recordFacts(ctx context.Context) ([]*store.Record, error) {
	if b.prev == nil || b.prev.records == nil {
		return b.st.RecordFacts(ctx)
	}
	versions, err := b.st.RecordVersions(ctx)
	if err != nil {
		return nil, err
	}
	prev := b.prev.records
	same := len(versions) == len(prev)
	for i := 0; same && i < len(versions); i++ {
		same = versions[i].ID == prev[i].ID && versions[i].Version == prev[i].Version
	}
	if same {
		return prev, nil
	}
	return b.st.RecordFacts(ctx)
}

// report records one component's state.
func (b *builder) report(kind, name string, err error) {
	b.status = append(b.status, status(kind, name, err, b.o.Now()))
}

// checkPolicies reports each rotation policy: one that does not parse is
// failed (its use is not rotated on schedule), the others are unaffected.
func (b *builder) checkPolicies() {
	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		if _, ok, err := lifecycle.PolicyOf(b.cfg, use); ok {
			b.report(KindRotation, string(use), err)
		}
	}
}

// openKeys resolves the signing and encryption keystore properties and
// opens each use's current key, then its next and previous keys, through
// the cache (a record opens once per version).
func (b *builder) openKeys(ctx context.Context) (*keys.KeySet, error) {
	ks := &keys.KeySet{}
	for _, p := range []struct {
		name string
		use  keys.Use
		list *[]*keys.Credential
	}{
		{store.PropSigningKeystore, keys.UseSigning, &ks.Signing},
		{store.PropEncryptionKeystore, keys.UseEncryption, &ks.Encryption},
	} {
		cur, err := b.currentKey(ctx, p.name, p.use)
		if err != nil {
			return nil, err
		}
		*p.list = append(*p.list, cur)
		b.addUse(cur.RecordID, string(p.use))
		rolled, err := b.rotatedCredentials(ctx, p.use, cur)
		if err != nil {
			return nil, err
		}
		for _, c := range rolled {
			*p.list = append(*p.list, c)
			b.addUse(c.RecordID, string(p.use)+"-"+string(c.Role))
		}
	}
	return ks, nil
}

// currentKey opens the record a keystore property selects.
func (b *builder) currentKey(ctx context.Context, prop string, use keys.Use) (*keys.Credential, error) {
	id, err := property(ctx, b.cfg, b.st, prop)
	if err != nil {
		return nil, err
	}
	rec, ok := b.idx.byID(id)
	if !ok {
		return nil, fmt.Errorf("property %s = %q: no certificate record has that id (samlkeyd cert list)", prop, id)
	}
	if !rec.Active {
		return nil, fmt.Errorf("property %s: certificate record %s (%q) is inactive (samlkeyd cert activate %s)", prop, rec.ID, rec.Name, rec.ID)
	}
	cred, err := b.open.credential(rec, use)
	if err != nil {
		return nil, fmt.Errorf("property %s: %w", prop, err)
	}
	return cred, nil
}

// rotatedCredentials returns a use's next key (published, not yet used) and
// its retired keys still inside retire_after, next first, then the most
// recently retired, by lifecycle.Serving: the rule rotate status reports,
// with the policy's retire_after or the default whether or not a rotation
// block is configured. A key metadata must not list (replace mode) is
// marked Unpublished, the current one included.
func (b *builder) rotatedCredentials(ctx context.Context, use keys.Use, cur *keys.Credential) ([]*keys.Credential, error) {
	rots, err := b.st.Rotations(ctx, string(use))
	if err != nil {
		return nil, fmt.Errorf("read %s rotation: %w", use, err)
	}
	p, err := lifecycle.Effective(b.cfg, use)
	if err != nil {
		// The rotation component reports the policy that does not fit;
		// the keys keep the default rule meanwhile, with the configured
		// retire_after, so a bad policy never takes the core down.
		p = lifecycle.DefaultPolicy()
		pc := b.cfg.Rotation.Signing
		if use == keys.UseEncryption {
			pc = b.cfg.Rotation.Encryption
		}
		if pc != nil && pc.RetireAfter > 0 {
			p.RetireAfter = pc.RetireAfter
		}
	}
	var out []*keys.Credential
	for _, k := range lifecycle.Serving(rots, cur.RecordID, b.o.Now(), p, use) {
		if k.ID == cur.RecordID {
			cur.Unpublished = !k.Listed
			continue
		}
		rec, ok := b.idx.byID(k.ID)
		if !ok || !rec.Active {
			continue
		}
		role := keys.RolePrevious
		if k.State == lifecycle.StateNext {
			role = keys.RoleNext
		}
		c, err := b.open.credential(rec, use) // a copy of the cached credential
		if err != nil {
			return nil, fmt.Errorf("%s key %s: %w", role, k.ID, err)
		}
		c.Role, c.Unpublished = role, !k.Listed
		out = append(out, c)
	}
	return out, nil
}

func (b *builder) addUse(id, use string) {
	if have := b.uses[id]; have != "" {
		use = have + "+" + use
	}
	b.uses[id] = use
}

// signingService builds the service that signs the SP's messages with the
// current signing key, and proves its messages verify with the certificate
// the metadata publishes first.
func (b *builder) signingService(ks *keys.KeySet) (*sp.Service, error) {
	svc, err := sp.New(sp.Settings{
		EntityID:     b.cfg.SP.EntityID,
		ACS:          b.cfg.SP.ACS,
		IdPs:         b.cfg.IdPs,
		Signing:      ks.Current(keys.UseSigning),
		Rand:         b.o.Rand,
		Now:          b.o.Now,
		Logger:       b.o.Logger,
		OnDeprecated: b.o.OnDeprecated,
	})
	if err != nil {
		return nil, fmt.Errorf("build signing service: %w", err)
	}
	var published *x509.Certificate
	if len(ks.Signing) > 0 {
		published = ks.Signing[0].Leaf()
	}
	if err := messageSelfTest(svc, b.cfg, published, b.o.Now()); err != nil {
		return nil, err
	}
	return svc, nil
}

// responseValidator builds the validation of IdP responses: decryption
// with every published encryption key, signatures against the IdPs' keys.
func (b *builder) responseValidator(ks *keys.KeySet, idps []sp.ResponseIdP) (*sp.ResponseValidator, error) {
	acsURLs := make([]string, 0, len(b.cfg.SP.ACS))
	for _, e := range b.cfg.SP.ACS {
		acsURLs = append(acsURLs, e.Location)
	}
	v, err := sp.NewResponseValidator(sp.ResponseSettings{
		EntityID:   b.cfg.SP.EntityID,
		ACSURLs:    acsURLs,
		SLOURLs:    sloURLs(b.cfg.SP.SLO),
		Decryption: ks.Encryption,
		IdPs:       idps,
		AllowRSA15: b.cfg.SP.AllowRSA15,
		ClockSkew:  b.cfg.SP.ClockSkew,
		Now:        b.o.Now,
		Rand:       b.o.Rand,
		Logger:     b.o.Logger,
		Replay:     b.o.Replay,
		Limits:     sp.LimitsFrom(b.cfg.SP.Limits),

		OnDeprecatedSignature:  b.o.OnDeprecatedInbound,
		OnDeprecatedEncryption: b.o.OnDeprecatedEncryption,
	})
	if err != nil {
		return nil, fmt.Errorf("build response validation: %w", err)
	}
	return v, nil
}

// renderMetadata renders the SP metadata and certificate files once.
func renderMetadata(cfg *config.Config, svc *sp.Service, ks *keys.KeySet, now time.Time) (*metadata.Published, error) {
	pub, err := metadata.Build(metadata.Input{
		SP:                  cfg.SP,
		AuthnRequestsSigned: svc.AuthnRequestsSigned(),
		Keys:                ks,
		EncryptionMethods:   sp.EncryptionMethods(),
		Now:                 now,
	})
	if err != nil {
		return nil, fmt.Errorf("render metadata: %w", err)
	}
	return pub, nil
}

// certificateFacts labels every record's expiry with its use (records
// nothing selects are "trust" or "unused").
func certificateFacts(records []*store.Record, uses map[string]string) []CertFact {
	var out []CertFact
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
			out = append(out, CertFact{ID: r.ID, Name: r.Name, Use: use, NotAfter: r.NotAfter})
		}
	}
	return out
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
