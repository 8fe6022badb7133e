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

// trustCerts returns the certificates of the active trust-store records
// refs name.
func (idx recordIndex) trustCerts(refs ...string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, ref := range refs {
		rec, err := idx.find(ref)
		if err != nil {
			return nil, err
		}
		certs, err := rec.TrustCertificates()
		if err != nil {
			return nil, err
		}
		out = append(out, certs...)
	}
	return out, nil
}

// resolveProfile turns a protocol profile's record references into its
// client key entry and trust-store certificates.
func (idx recordIndex) resolveProfile(p config.Profile) (*keys.Entry, []*x509.Certificate, error) {
	rec, err := idx.find(p.Keystore)
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	client, err := rec.KeyEntry()
	if err != nil {
		return nil, nil, fmt.Errorf("keystore: %w", err)
	}
	trust, err := idx.trustCerts(p.TrustStore...)
	if err != nil {
		return nil, nil, fmt.Errorf("trust_store: %w", err)
	}
	return client, trust, nil
}

var _ mtls.ResolveFunc = recordIndex(nil).resolveProfile
