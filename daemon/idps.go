package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// maxIdPMetadata caps an IdP metadata file read at snapshot build.
const maxIdPMetadata = 4 << 20

// idpState is one IdP component: why it failed, or until when its signing
// keys may be trusted (the earliest validUntil of the metadata they came
// from; zero: no bound).
type idpState struct {
	err        error
	trustUntil time.Time
}

// usable says why the IdP may not be used at now, or nil. A key is never
// trusted after its metadata expired, even before the next build notices.
func (s *idpState) usable(name string, now time.Time) error {
	switch {
	case s == nil:
		return nil
	case s.err != nil:
		return s.err
	case !s.trustUntil.IsZero() && !now.Before(s.trustUntil):
		return fmt.Errorf("idp %q: its metadata expired at %s (validUntil); fetch a fresh copy", name, s.trustUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// responseIdPs builds one component per IdP and returns the
// response-validation records of the healthy IdPs whose signing
// certificates are known (from trust-store records, a metadata file or a
// fetched metadata_url). An IdP with none is left out: its responses cannot
// be verified. A failing IdP is reported and left out; the others are not
// affected.
func (b *builder) responseIdPs() ([]sp.ResponseIdP, map[string]*idpState) {
	var out []sp.ResponseIdP
	states := make(map[string]*idpState, len(b.cfg.IdPs))
	now := b.o.Now()
	for i, p := range b.cfg.IdPs {
		certs, until, err := b.idpSigningCerts(p, now)
		if err != nil {
			err = fmt.Errorf("idps[%d] (%s) %w", i, p.Name, err)
		}
		states[p.Name] = &idpState{err: err, trustUntil: until}
		b.report(KindIdP, p.Name, err)
		if err != nil || len(certs) == 0 {
			continue
		}
		out = append(out, sp.ResponseIdP{
			Name: p.Name, EntityID: p.EntityID, SigningCerts: certs,
			EncryptAssertion:    p.EncryptAssertion,
			WantResponseSigned:  p.WantResponseSigned,
			WantAssertionSigned: b.cfg.SP.WantAssertionsSigned,
			RefuseCBC:           !b.cfg.IdPAllowsCBC(p),
			AllowSHA1:           p.AllowSHA1,
			AllowUnsignedLogout: !p.WantsLogoutSigned(),
		})
	}
	return out, states
}

// idpsUnchanged says whether every IdP component and the response
// validation can be taken from the previous snapshot: the core (its
// decryption keys) was, the records and the SP and IdP config sections are
// the same, every metadata_file and fetched metadata_url has the same
// content, and no IdP had failed or has expired since.
func (b *builder) idpsUnchanged(c *core) bool {
	p := b.prev
	if p == nil || p.core == nil || c.keys != p.core.keys || p.Responses == nil || p.cache == nil ||
		!slices.Equal(p.records, b.records) || !sameCoreConfig(p.Config, b.cfg) {
		return false
	}
	now := b.o.Now()
	for _, st := range p.idps { // a failed IdP is tried again: its cause may have been time
		if st.err != nil || (!st.trustUntil.IsZero() && !now.Before(st.trustUntil)) {
			return false
		}
	}
	for _, idp := range b.cfg.IdPs {
		if idp.MetadataFile != "" {
			was, ok := p.cache.files[idp.MetadataFile]
			_, sum, err := b.open.metadataFile(idp.MetadataFile)
			if !ok || was.err != nil || err != nil || sum != was.sum {
				return false
			}
		}
		if idp.MetadataURL != "" && b.o.IdPMetadata != nil {
			was, had := p.cache.urls[idp.MetadataURL]
			data := b.o.IdPMetadata(idp.MetadataURL)
			if had != (data != nil) || (data != nil && b.open.fetchedSum(idp.MetadataURL, data) != was) {
				return false
			}
		}
	}
	return true
}

// reuseIdPs takes the previous snapshot's IdP components, their states and
// the response validation, and carries its parsed documents forward (the
// maps are shared: nothing else in a build writes them, and a cache is
// read-only once its build is done).
func (b *builder) reuseIdPs() ([]sp.ResponseIdP, map[string]*idpState, *sp.ResponseValidator) {
	p := b.prev
	b.open.cache.docs, b.open.cache.idps = p.cache.docs, p.cache.idps
	for _, st := range p.Components {
		if st.Kind == KindIdP {
			b.status = append(b.status, st)
		}
	}
	return p.ridps, p.idps, p.Responses
}

// idpSigningCerts collects one IdP's signing certificates and the time
// the metadata they came from expires; errors start with the config key
// that failed.
func (b *builder) idpSigningCerts(p config.IdP, now time.Time) ([]*x509.Certificate, time.Time, error) {
	var mdSigner *x509.Certificate
	if p.MetadataSigningCert != "" {
		c, err := b.trustCerts(p.MetadataSigningCert)
		if err == nil && len(c) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("metadata_signing_cert: %w", err)
		}
		mdSigner = c[0]
	}
	certs, err := b.trustCerts(p.SigningCerts...)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("signing_certs: %w", err)
	}
	var until time.Time
	if p.MetadataFile != "" {
		c, vu, err := b.idpMetadataFile(p.MetadataFile, p.EntityID, mdSigner, now)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("metadata_file: %w", err)
		}
		certs, until = append(certs, c...), earliest(until, vu)
	}
	if p.MetadataURL != "" && b.o.IdPMetadata != nil {
		if data := b.o.IdPMetadata(p.MetadataURL); data != nil {
			c, vu, err := b.idpDocument(data, b.open.fetchedSum(p.MetadataURL, data), p.EntityID, mdSigner, now)
			if err != nil {
				return nil, time.Time{}, fmt.Errorf("metadata_url %s: %w", p.MetadataURL, err)
			}
			certs, until = append(certs, c...), earliest(until, vu)
		}
	}
	return certs, until, nil
}

// idpMetadataFile reads an IdP's metadata file and returns its signing
// certificates; signer, when set, must have signed it.
func (b *builder) idpMetadataFile(path, entityID string, signer *x509.Certificate, now time.Time) ([]*x509.Certificate, time.Time, error) {
	data, sum, err := b.open.metadataFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	certs, until, err := b.idpDocument(data, sum, entityID, signer, now)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("IdP metadata %q: %w", path, err)
	}
	return certs, until, nil
}

// idpDocument looks entityID up in a document parsed once per content
// hash and signer, once per document.
func (b *builder) idpDocument(data []byte, sum [32]byte, entityID string, signer *x509.Certificate, now time.Time) ([]*x509.Certificate, time.Time, error) {
	return b.open.entity(data, sum, entityID, signer, now)
}

// earliest is the earlier of two bounds, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
