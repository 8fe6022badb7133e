package metadata

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
)

// URL paths the handlers serve.
const (
	PathMetadata = "/saml/metadata"
	PathCerts    = "/saml/certs"
)

// Media types of the certificate files.
const (
	contentTypePEM  = "application/x-pem-file"
	contentTypeDER  = "application/pkix-cert"
	contentTypeJSON = "application/json"
)

// CertInfo describes one published certificate in the /saml/certs index.
type CertInfo struct {
	Use          keys.Use  `json:"use"`
	State        keys.Role `json:"state"` // current, next or previous
	RecordID     string    `json:"record_id,omitempty"`
	RecordName   string    `json:"record_name,omitempty"`
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	Serial       string    `json:"serial"`        // hex
	KeyAlgorithm string    `json:"key_algorithm"` // RSA-2048, ECDSA-P256, Ed25519
	SHA1         string    `json:"sha1"`          // upper-case hex with colons, as keytool and openssl print it
	SHA256       string    `json:"sha256"`
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	PEMURL       string    `json:"pem_url"` // this certificate alone
	DERURL       string    `json:"der_url"`

	// Fingerprint is the SHA-256 fingerprint SHA256 shows, for callers
	// that need its hex form (records, file names).
	Fingerprint keys.Fingerprint `json:"-"`
}

// certIndex is the JSON document served at /saml/certs.
type certIndex struct {
	EntityID         string     `json:"entity_id"`
	MetadataURL      string     `json:"metadata_url"`
	ValidUntil       time.Time  `json:"valid_until"`
	SigningPEMURL    string     `json:"signing_pem_url,omitempty"`
	EncryptionPEMURL string     `json:"encryption_pem_url,omitempty"`
	Certificates     []CertInfo `json:"certificates"`
}

// addCertFiles renders the per-use PEM and DER files, one PEM and DER file
// per certificate (named by its SHA-256), and the JSON index.
func (p *Published) addCertFiles(signing, encryption []*keys.Credential) error {
	p.files = map[string]*asset{}
	idx := certIndex{EntityID: p.entityID, MetadataURL: PathMetadata, ValidUntil: p.validUntil, Certificates: []CertInfo{}}
	for _, group := range []struct {
		use  keys.Use
		list []*keys.Credential
	}{{keys.UseSigning, signing}, {keys.UseEncryption, encryption}} {
		use, list := string(group.use), group.list
		if len(list) == 0 {
			continue
		}
		var all []byte
		for _, c := range list {
			leaf := c.Leaf()
			certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
			all = append(all, certPEM...)
			info := certInfo(group.use, c)
			p.certs = append(p.certs, info)
			idx.Certificates = append(idx.Certificates, info)
			stem := info.Fingerprint.Hex()
			p.files[stem+".pem"] = newAsset(certPEM, contentTypePEM, stem+".pem", p.maxAge)
			p.files[stem+".crt"] = newAsset(leaf.Raw, contentTypeDER, stem+".crt", p.maxAge)
		}
		p.files[use+".pem"] = newAsset(all, contentTypePEM, use+".pem", p.maxAge)
		p.files[use+".crt"] = newAsset(list[0].Leaf().Raw, contentTypeDER, use+".crt", p.maxAge)
		if group.use == keys.UseSigning {
			idx.SigningPEMURL = PathCerts + "/signing.pem"
		} else {
			idx.EncryptionPEMURL = PathCerts + "/encryption.pem"
		}
	}
	body, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal certificate index: %w", err)
	}
	p.index = *newAsset(append(body, '\n'), contentTypeJSON, "certs.json", p.maxAge)
	return nil
}

func certInfo(use keys.Use, c *keys.Credential) CertInfo {
	leaf := c.Leaf()
	s256 := keys.SHA256Fingerprint(leaf)
	stem := s256.Hex()
	return CertInfo{
		Use:          use,
		State:        c.Role,
		RecordID:     c.RecordID,
		RecordName:   c.RecordName,
		Subject:      leaf.Subject.String(),
		Issuer:       leaf.Issuer.String(),
		Serial:       leaf.SerialNumber.Text(16),
		KeyAlgorithm: keyAlgorithm(leaf),
		SHA1:         keys.SHA1Fingerprint(leaf).Colon(),
		SHA256:       s256.Colon(),
		Fingerprint:  s256,
		NotBefore:    leaf.NotBefore.UTC(),
		NotAfter:     leaf.NotAfter.UTC(),
		PEMURL:       PathCerts + "/" + stem + ".pem",
		DERURL:       PathCerts + "/" + stem + ".crt",
	}
}

func keyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA-" + strconv.Itoa(k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA-" + strings.ReplaceAll(k.Curve.Params().Name, "-", "")
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}
