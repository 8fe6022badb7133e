package store

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// Opening a record is one rule, written once here: the content is parsed
// with the record's passwords through the keys package, the record's alias
// picks the private-key entry, and every error names the record the same
// way ("open certificate record <id> (<name>)…"). Callers (snapshot
// credentials, protocol profiles, trust stores, IdP certificates, the CLI)
// use these methods and never call keys.Parse on a record themselves.

// Parse opens the record's content with its passwords.
func (r *Record) Parse() (*keys.Keystore, error) {
	if err := r.loaded(); err != nil {
		return nil, err
	}
	if r.Type == TypePKCS11 {
		return nil, fmt.Errorf("open %s: %w", r.label(), ErrTokenRecord)
	}
	ks, err := keys.Parse(r.Data, r.StorePassword, r.KeyPassword)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.label(), err)
	}
	return ks, nil
}

// Chains opens the record with its store password only: every entry's
// certificate chain, no private key decrypted (for listing and expiry).
func (r *Record) Chains() (*keys.Keystore, error) {
	if r.Type == TypePKCS11 {
		return r.tokenChains(), nil
	}
	if err := r.loaded(); err != nil {
		return nil, err
	}
	ks, err := keys.ParseChains(r.Data, r.StorePassword)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", r.label(), err)
	}
	return ks, nil
}

// KeyEntry opens the record and returns the private-key entry its alias
// names (the only one when the alias is empty). A record without one is an
// error wrapping keys.ErrNoPrivateKey.
func (r *Record) KeyEntry() (*keys.Entry, error) {
	ks, err := r.Parse()
	if err != nil {
		return nil, err
	}
	e, err := ks.PrivateKeyEntry(r.Alias)
	if err != nil {
		return nil, fmt.Errorf("open %s alias %q: %w", r.label(), r.Alias, err)
	}
	return e, nil
}

// Credential opens the record as the current key of use: its private key
// and certificate chain, labelled with the record.
func (r *Record) Credential(use keys.Use) (*keys.Credential, error) {
	e, err := r.KeyEntry()
	if errors.Is(err, keys.ErrNoPrivateKey) {
		return nil, fmt.Errorf("%w: the %s keystore must hold a private key", err, use)
	}
	if err != nil {
		return nil, err
	}
	if err := fips.Key(e.Key.Public()); err != nil {
		return nil, fmt.Errorf("open %s as the %s key: %w", r.label(), use, err)
	}
	return &keys.Credential{
		RecordID: r.ID, RecordName: r.Name, Use: use, Role: keys.RoleCurrent,
		Signer: e.Key, Chain: e.Chain,
	}, nil
}

// TrustCertificates returns every certificate of a trust_store_cert record
// (any other type is refused: a keystore is not a trust anchor).
func (r *Record) TrustCertificates() ([]*x509.Certificate, error) {
	if r.Type != TypeTrustStoreCert {
		return nil, fmt.Errorf("%s is a %s, not a trust_store_cert", r.label(), r.Type)
	}
	ks, err := r.Parse()
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, e := range ks.Entries {
		out = append(out, e.Chain...)
	}
	return out, nil
}

// label names the record in errors.
func (r *Record) label() string {
	return fmt.Sprintf("certificate record %s (%q)", r.ID, r.Name)
}

// loaded refuses a record listed without its content (RecordFacts).
func (r *Record) loaded() error {
	if r.Data == nil {
		return fmt.Errorf("open %s: content not loaded (a RecordFacts listing): read it with Store.Record", r.label())
	}
	return nil
}
