package daemon

import (
	"crypto/x509"
	"fmt"

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

// resolveProfile turns a protocol profile's record references into its
// client key entry and trust-store certificates.
func (idx recordIndex) resolveProfile(p config.Profile) (*keys.Entry, []*x509.Certificate, error) {
	rec, err := idx.find(p.Keystore)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	ks, err := keys.Parse(rec.Data, rec.StorePassword, rec.KeyPassword)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: open certificate record %s (%q): %w", rec.ID, rec.Name, err)
	}
	client, err := ks.PrivateKeyEntry(rec.Alias)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: certificate record %s (%q) alias %q: %w", rec.ID, rec.Name, rec.Alias, err)
	}
	var trust []*x509.Certificate
	for _, ref := range p.TrustStore {
		tr, err := idx.find(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("trust_store: %w", err)
		}
		if tr.Type != store.TypeTrustStoreCert {
			return nil, nil, fmt.Errorf("trust_store: certificate record %s (%q) is a %s, not a trust_store_cert", tr.ID, tr.Name, tr.Type)
		}
		tks, err := keys.Parse(tr.Data, tr.StorePassword, tr.KeyPassword)
		if err != nil {
			return nil, nil, fmt.Errorf("trust_store: certificate record %s (%q): %w", tr.ID, tr.Name, err)
		}
		for _, e := range tks.Entries {
			trust = append(trust, e.Chain...)
		}
	}
	return client, trust, nil
}

var _ mtls.ResolveFunc = recordIndex(nil).resolveProfile
