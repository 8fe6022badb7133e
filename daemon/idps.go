package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// maxIdPMetadata caps an IdP metadata file read at snapshot build.
const maxIdPMetadata = 4 << 20

// responseIdPs returns the response-validation records of the IdPs whose
// signing certificates are known (from trust-store records, a metadata file
// or a fetched metadata_url). An IdP with none is left out: its responses
// cannot be verified.
func responseIdPs(cfg *config.Config, idx recordIndex, fetched func(url string) []byte, now time.Time) ([]sp.ResponseIdP, error) {
	var out []sp.ResponseIdP
	for i, p := range cfg.IdPs {
		certs, err := idpSigningCerts(p, idx, fetched, now)
		if err != nil {
			return nil, fmt.Errorf("idps[%d] (%s) %w", i, p.Name, err)
		}
		if len(certs) == 0 {
			continue
		}
		out = append(out, sp.ResponseIdP{
			Name: p.Name, EntityID: p.EntityID, SigningCerts: certs,
			EncryptAssertion:    p.EncryptAssertion,
			WantResponseSigned:  p.WantResponseSigned,
			WantAssertionSigned: cfg.SP.WantAssertionsSigned,
			RefuseCBC:           !cfg.IdPAllowsCBC(p),
			AllowSHA1:           p.AllowSHA1,
			AllowUnsignedLogout: !p.WantsLogoutSigned(),
		})
	}
	return out, nil
}

// idpSigningCerts collects one IdP's signing certificates; errors start with
// the config key that failed.
func idpSigningCerts(p config.IdP, idx recordIndex, fetched func(url string) []byte, now time.Time) ([]*x509.Certificate, error) {
	var mdSigner *x509.Certificate
	if p.MetadataSigningCert != "" {
		c, err := idx.trustCerts(p.MetadataSigningCert)
		if err == nil && len(c) == 0 {
			err = errors.New("no certificate")
		}
		if err != nil {
			return nil, fmt.Errorf("metadata_signing_cert: %w", err)
		}
		mdSigner = c[0]
	}
	certs, err := idx.trustCerts(p.SigningCerts...)
	if err != nil {
		return nil, fmt.Errorf("signing_certs: %w", err)
	}
	if p.MetadataFile != "" {
		c, err := idpMetadataFile(p.MetadataFile, p.EntityID, mdSigner, now)
		if err != nil {
			return nil, fmt.Errorf("metadata_file: %w", err)
		}
		certs = append(certs, c...)
	}
	if p.MetadataURL != "" && fetched != nil {
		if data := fetched(p.MetadataURL); data != nil {
			c, err := sp.IdPSigningCerts(data, p.EntityID, mdSigner, now)
			if err != nil {
				return nil, fmt.Errorf("metadata_url %s: %w", p.MetadataURL, err)
			}
			certs = append(certs, c...)
		}
	}
	return certs, nil
}

// idpMetadataFile reads an IdP's metadata file and returns its signing
// certificates; signer, when set, must have signed it.
func idpMetadataFile(path, entityID string, signer *x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdPMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("read IdP metadata %q: %w", path, err)
	}
	if len(data) > maxIdPMetadata {
		return nil, fmt.Errorf("IdP metadata %q is over %d bytes", path, maxIdPMetadata)
	}
	certs, err := sp.IdPSigningCerts(data, entityID, signer, now)
	if err != nil {
		return nil, fmt.Errorf("IdP metadata %q: %w", path, err)
	}
	return certs, nil
}
