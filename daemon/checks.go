package daemon

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/store"
)

// recordIndex finds certificate records by id or by name.
type recordIndex map[string]*store.Record

func newRecordIndex(records []*store.Record) recordIndex {
	idx := make(recordIndex, 2*len(records))
	for _, r := range records {
		idx[r.ID] = r
	}
	for _, r := range records {
		if _, taken := idx[r.Name]; !taken {
			idx[r.Name] = r
		}
	}
	return idx
}

// byID returns the record with id, active or not (never one by name).
func (idx recordIndex) byID(id string) (*store.Record, bool) {
	r, ok := idx[id]
	return r, ok && r.ID == id
}

// find returns the active record a config reference (id or name) names.
func (idx recordIndex) find(ref string) (*store.Record, error) {
	r, ok := idx[ref]
	if !ok {
		return nil, fmt.Errorf("no certificate record has id or name %q (samlkeyd cert list)", ref)
	}
	if !r.Active {
		return nil, fmt.Errorf("certificate record %s (%q) is inactive", r.ID, r.Name)
	}
	return r, nil
}

// trustCerts returns the certificates of the trust-store record ref names,
// from its stored public facts (no content is read): for callers outside
// a build, such as the federation sources.
func (idx recordIndex) trustCerts(ref string) ([]*x509.Certificate, error) {
	rec, err := idx.find(ref)
	if err != nil {
		return nil, err
	}
	if rec.Type != store.TypeTrustStoreCert {
		return nil, fmt.Errorf("certificate record %s (%q) is a %s, not a trust_store_cert", rec.ID, rec.Name, rec.Type)
	}
	return rec.Chain(), nil
}

// trustCerts returns the certificates of the active trust-store records
// refs name, from their stored public facts.
func (b *builder) trustCerts(refs ...string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, ref := range refs {
		rec, err := b.idx.find(ref)
		if err != nil {
			return nil, err
		}
		certs, err := b.open.trustCertificates(rec)
		if err != nil {
			return nil, err
		}
		out = append(out, certs...)
	}
	return out, nil
}

// resolveProfile turns a protocol profile's record references into its
// client key entry and trust-store certificates.
func (b *builder) resolveProfile(p config.Profile) (*keys.Entry, []*x509.Certificate, error) {
	rec, err := b.idx.find(p.Keystore)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	client, err := b.open.keyEntry(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	trust, err := b.trustCerts(p.TrustStore...)
	if err != nil {
		return nil, nil, fmt.Errorf("trust_store: %w", err)
	}
	return client, trust, nil
}

var _ mtls.ResolveFunc = (*builder)(nil).resolveProfile

// mtlsChecks builds each protocol profile and each check as its own
// component: a profile that does not build (a missing or inactive record,
// a bad trust store) fails with the checks that use it, and is reported;
// the other checks are built and scheduled. The profiles' keystores are
// marked as used by mTLS.
func (b *builder) mtlsChecks() []*mtls.Check {
	usable := map[string]*mtls.Profile{}
	failed := map[string]error{}
	for i, pc := range b.cfg.Profiles {
		err := b.profile(pc, usable, failed)
		if err != nil {
			err = fmt.Errorf("profiles[%d]: %w", i, err)
			failed[pc.Name] = err
		}
		b.report(KindProfile, pc.Name, err)
		if r, err := b.idx.find(pc.Keystore); err == nil {
			b.addUse(r.ID, "mtls")
		}
	}
	out := make([]*mtls.Check, 0, len(b.cfg.Checks))
	names := map[string]bool{}
	for j, cc := range b.cfg.Checks {
		var c *mtls.Check
		var err error
		switch prof := checkProfile(cc); {
		case names[cc.Name]:
			err = fmt.Errorf("checks[%d]: check %q is defined twice: names must be unique", j, cc.Name)
		case failed[prof] != nil:
			err = fmt.Errorf("checks[%d]: check %q: its profile failed: %w", j, cc.Name, failed[prof])
		default:
			if c, err = mtls.NewCheck(cc, usable); err != nil {
				err = fmt.Errorf("checks[%d]: %w", j, err)
			}
		}
		names[cc.Name] = true
		b.report(KindCheck, cc.Name, err)
		if err == nil {
			out = append(out, c)
		}
	}
	return out
}

// profile builds one protocol profile into usable, or says why not.
func (b *builder) profile(pc config.Profile, usable map[string]*mtls.Profile, failed map[string]error) error {
	if _, dup := usable[pc.Name]; dup || failed[pc.Name] != nil {
		return fmt.Errorf("protocol profile %q is defined twice: names must be unique", pc.Name)
	}
	client, trust, err := b.resolveProfile(pc)
	if err != nil {
		return fmt.Errorf("protocol profile %q: %w", pc.Name, err)
	}
	p, err := mtls.NewProfile(pc, client, trust)
	if err != nil {
		return err
	}
	usable[pc.Name] = p
	return nil
}

// checkProfile names the profile a check uses, by field or URL scheme (as
// mtls.NewCheck resolves it).
func checkProfile(c config.Check) string {
	if c.Profile != "" {
		return c.Profile
	}
	if scheme, _, ok := strings.Cut(c.URL, "://"); ok {
		return strings.ToLower(scheme)
	}
	return ""
}
