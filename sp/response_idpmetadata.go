package sp

import (
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

const nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"

// ErrResponseIdPMetadata is wrapped by every IdP metadata refusal.
var ErrResponseIdPMetadata = errors.New("unusable idp metadata")

// IdPSigningCerts reads the signing certificates of the IdP entityID from
// its SAML metadata (an EntityDescriptor, or an EntitiesDescriptor that
// holds it): the certificates of its IDPSSODescriptor's KeyDescriptors with
// use="signing" or no use. When metadataSigner is not nil the document's
// root must carry an enveloped signature by it. validUntil on the root or
// the EntityDescriptor must not have passed at now. The caller (the daemon
// loading metadata_file or metadata_url on its schedule) puts the result
// in ResponseIdP.SigningCerts. The document must keep within
// DefaultMetadataLimits (CheckStructure) before anything else is done.
//
// It is ParseIdPMetadata then SigningCerts; a caller looking up many
// entities in one document parses it once instead.
func IdPSigningCerts(data []byte, entityID string, metadataSigner *x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	md, err := ParseIdPMetadata(data, metadataSigner, now)
	if err != nil {
		return nil, err
	}
	certs, _, err := md.SigningCerts(entityID, now)
	return certs, err
}

// IdPMetadata is an IdP metadata document parsed once, its signature
// checked once, indexed by entity id. It is immutable and safe for
// concurrent use.
type IdPMetadata struct {
	root     *etree.Element
	byEntity map[string]*etree.Element // the first EntityDescriptor of each entity id
	// validUntil bounds every entity of the document: the root's
	// validUntil and the signer certificate's NotAfter (zero: none).
	validUntil time.Time
}

// ParseIdPMetadata parses an IdP metadata document (within
// DefaultMetadataLimits), checks its enveloped signature by
// metadataSigner when that is not nil (at now), and indexes its
// EntityDescriptors. A root validUntil is not checked here but by
// SigningCerts at its own now, so a parsed document can be kept.
func ParseIdPMetadata(data []byte, metadataSigner *x509.Certificate, now time.Time) (*IdPMetadata, error) {
	if len(data) > MaxIdPMetadataXML {
		return nil, fmt.Errorf("idp metadata is %d bytes, over the %d-byte cap: %w", len(data), MaxIdPMetadataXML, ErrResponseIdPMetadata)
	}
	doc, err := parseXML(data, DefaultMetadataLimits())
	if err != nil {
		return nil, fmt.Errorf("idp metadata: %w: %w", err, ErrResponseIdPMetadata)
	}
	md := &IdPMetadata{root: doc.Root(), byEntity: map[string]*etree.Element{}}
	if metadataSigner != nil {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{metadataSigner}})
		vc.IdAttribute = "ID"
		vc.Clock = dsig.NewFakeClockAt(now)
		verified, err := vc.Validate(md.root.Copy())
		if err != nil {
			return nil, fmt.Errorf("idp metadata signature (metadata signing certificate %q): %v: %w", metadataSigner.Subject.String(), err, ErrResponseIdPMetadata)
		}
		md.root = verified
		md.validUntil = metadataSigner.NotAfter
	}
	vu, err := validUntil(md.root)
	if err != nil {
		return nil, err
	}
	md.validUntil = earliest(md.validUntil, vu)
	switch root := md.root; {
	case root.NamespaceURI() == nsMetadata && root.Tag == "EntityDescriptor":
		md.byEntity[root.SelectAttrValue("entityID", "")] = root
	case root.NamespaceURI() == nsMetadata && root.Tag == "EntitiesDescriptor":
		for _, e := range root.FindElements("//EntityDescriptor") {
			id := e.SelectAttrValue("entityID", "")
			if _, seen := md.byEntity[id]; !seen && e.NamespaceURI() == nsMetadata {
				md.byEntity[id] = e
			}
		}
	default:
		return nil, fmt.Errorf("idp metadata root is %s, want md:EntityDescriptor or md:EntitiesDescriptor: %w", root.FullTag(), ErrResponseIdPMetadata)
	}
	return md, nil
}

// SigningCerts returns the signing certificates of the IdP entityID (as
// IdPSigningCerts) and the time they stop being trusted: the earliest of
// the document's and the entity's validUntil and the metadata signer's
// NotAfter (zero: no bound). A bound at or before now is an error.
func (md *IdPMetadata) SigningCerts(entityID string, now time.Time) ([]*x509.Certificate, time.Time, error) {
	ed := md.byEntity[entityID]
	if ed == nil {
		return nil, time.Time{}, fmt.Errorf("idp metadata has no EntityDescriptor for entity id %q (check entity_id in the idp record): %w", entityID, ErrResponseIdPMetadata)
	}
	vu, err := validUntil(ed)
	if err != nil {
		return nil, time.Time{}, err
	}
	vu = earliest(md.validUntil, vu)
	if !vu.IsZero() && !now.Before(vu) {
		return nil, time.Time{}, fmt.Errorf("idp metadata expired at %s (validUntil); fetch a fresh copy: %w", vu.Format(time.RFC3339), ErrResponseIdPMetadata)
	}
	var certs []*x509.Certificate
	for _, idp := range childrenNS(ed, nsMetadata, "IDPSSODescriptor") {
		for _, kd := range childrenNS(idp, nsMetadata, "KeyDescriptor") {
			if use := kd.SelectAttrValue("use", ""); use != "" && use != "signing" {
				continue
			}
			xd := childNS(childNS(kd, nsDSig, "KeyInfo"), nsDSig, "X509Data")
			if xd == nil {
				continue
			}
			for _, xc := range childrenNS(xd, nsDSig, "X509Certificate") {
				der, err := base64.StdEncoding.DecodeString(stripSpace(xc.Text()))
				if err != nil {
					return nil, time.Time{}, fmt.Errorf("idp metadata %q X509Certificate: %v: %w", entityID, err, ErrResponseIdPMetadata)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, time.Time{}, fmt.Errorf("idp metadata %q X509Certificate: %v: %w", entityID, err, ErrResponseIdPMetadata)
				}
				certs = append(certs, cert)
			}
		}
	}
	if len(certs) == 0 {
		return nil, time.Time{}, fmt.Errorf("idp metadata %q has no signing certificate in an IDPSSODescriptor: %w", entityID, ErrResponseIdPMetadata)
	}
	return certs, vu, nil
}

// validUntil reads an element's validUntil (zero when absent).
func validUntil(el *etree.Element) (time.Time, error) {
	s := strings.TrimSpace(el.SelectAttrValue("validUntil", ""))
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("idp metadata validUntil %q: %v: %w", s, err, ErrResponseIdPMetadata)
	}
	return t, nil
}

// earliest is the earlier of two bounds, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
