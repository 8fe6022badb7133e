package daemon

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// maxIdPMetadata caps an IdP metadata file read at snapshot build.
const maxIdPMetadata = 4 << 20

// responseIdPs returns the response-validation records of the IdPs whose
// signing certificates are known (from trust-store records or a metadata
// file). An IdP with neither is left out: its responses cannot be verified.
func responseIdPs(cfg *config.Config, idx recordIndex, fetched func(url string) []byte, now time.Time) ([]sp.ResponseIdP, error) {
	var out []sp.ResponseIdP
	for i, p := range cfg.IdPs {
		var mdSigner *x509.Certificate
		if p.MetadataSigningCert != "" {
			rec, err := idx.find(p.MetadataSigningCert)
			if err != nil {
				return nil, fmt.Errorf("idps[%d] (%s) metadata_signing_cert: %w", i, p.Name, err)
			}
			c, err := trustCerts(rec)
			if err != nil || len(c) == 0 {
				return nil, fmt.Errorf("idps[%d] (%s) metadata_signing_cert: %w", i, p.Name, errors.Join(err, errors.New("no certificate")))
			}
			mdSigner = c[0]
		}
		var certs []*x509.Certificate
		for _, ref := range p.SigningCerts {
			rec, err := idx.find(ref)
			if err != nil {
				return nil, fmt.Errorf("idps[%d] (%s) signing_certs: %w", i, p.Name, err)
			}
			c, err := trustCerts(rec)
			if err != nil {
				return nil, fmt.Errorf("idps[%d] (%s) signing_certs: %w", i, p.Name, err)
			}
			certs = append(certs, c...)
		}
		if p.MetadataFile != "" {
			c, err := idpMetadataFile(p.MetadataFile, p.EntityID, mdSigner, now)
			if err != nil {
				return nil, fmt.Errorf("idps[%d] (%s) metadata_file: %w", i, p.Name, err)
			}
			certs = append(certs, c...)
		}
		if p.MetadataURL != "" && fetched != nil {
			if data := fetched(p.MetadataURL); data != nil {
				c, err := sp.IdPSigningCerts(data, p.EntityID, mdSigner, now)
				if err != nil {
					return nil, fmt.Errorf("idps[%d] (%s) metadata_url %s: %w", i, p.Name, p.MetadataURL, err)
				}
				certs = append(certs, c...)
			}
		}
		if len(certs) == 0 {
			continue
		}
		out = append(out, sp.ResponseIdP{
			Name: p.Name, EntityID: p.EntityID, SigningCerts: certs,
			EncryptAssertion:    p.EncryptAssertion,
			WantResponseSigned:  p.WantResponseSigned,
			WantAssertionSigned: cfg.SP.WantAssertionsSigned,
		})
	}
	return out, nil
}

// trustCerts returns the certificates of a trust-store record.
func trustCerts(rec *store.Record) ([]*x509.Certificate, error) {
	if rec.Type != store.TypeTrustStoreCert {
		return nil, fmt.Errorf("certificate record %s (%q) is a %s, not a trust_store_cert", rec.ID, rec.Name, rec.Type)
	}
	ks, err := keys.Parse(rec.Data, rec.StorePassword, rec.KeyPassword)
	if err != nil {
		return nil, fmt.Errorf("certificate record %s (%q): %w", rec.ID, rec.Name, err)
	}
	var out []*x509.Certificate
	for _, e := range ks.Entries {
		out = append(out, e.Chain...)
	}
	return out, nil
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

// responseRequest is the body of POST /api/v1/responses.
type responseRequest struct {
	IdP          string `json:"idp"`
	SAMLResponse string `json:"saml_response"`
	RequestID    string `json:"request_id,omitempty"`
}

// apiResponse answers POST /api/v1/responses: the SAMLResponse (base64 as
// posted to the ACS) decrypted with the snapshot's encryption keys and
// validated for the IdP; 4xx {error: <failed check>, detail} otherwise.
func (d *Daemon) apiResponse(w http.ResponseWriter, r *http.Request, actor string) {
	var req responseRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	snap := d.snap.Load()
	a, err := snap.Responses.Verify(r.Context(), req.IdP, req.SAMLResponse, req.RequestID)
	var re *sp.ResponseError
	switch {
	case err == nil:
		d.log.Info("response verified", "idp", req.IdP, "actor", actor, "issuer", a.Issuer)
		writeJSON(w, http.StatusOK, a)
	case errors.As(err, &re) && re.Check == sp.CheckUnknownIdP:
		writeError(w, http.StatusNotFound, re.Check, unknownIdPDetail(snap.Config, req.IdP))
	case errors.As(err, &re):
		d.log.Warn("response refused", "idp", req.IdP, "actor", actor, "check", re.Check, "err", err)
		writeError(w, http.StatusUnprocessableEntity, re.Check, re.Err.Error())
	default:
		d.log.Error("verify response", "idp", req.IdP, "actor", actor, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the response could not be verified; see the daemon log")
	}
}

// unknownIdPDetail says whether the IdP is missing or only lacks signing
// certificates.
func unknownIdPDetail(cfg *config.Config, name string) string {
	for _, p := range cfg.IdPs {
		if p.Name == name {
			return fmt.Sprintf("idp %q has no signing certificate to verify responses with (set signing_certs or metadata_file)", name)
		}
	}
	return fmt.Sprintf("no idp record %q", name)
}
