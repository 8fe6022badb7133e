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
func IdPSigningCerts(data []byte, entityID string, metadataSigner *x509.Certificate, now time.Time) ([]*x509.Certificate, error) {
	if len(data) > MaxIdPMetadataXML {
		return nil, fmt.Errorf("idp metadata is %d bytes, over the %d-byte cap: %w", len(data), MaxIdPMetadataXML, ErrResponseIdPMetadata)
	}
	doc, err := parseXML(data, DefaultMetadataLimits())
	if err != nil {
		return nil, fmt.Errorf("idp metadata: %w: %w", err, ErrResponseIdPMetadata)
	}
	root := doc.Root()
	if metadataSigner != nil {
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{metadataSigner}})
		vc.IdAttribute = "ID"
		vc.Clock = dsig.NewFakeClockAt(now)
		verified, err := vc.Validate(root.Copy())
		if err != nil {
			return nil, fmt.Errorf("idp metadata signature (metadata signing certificate %q): %v: %w", metadataSigner.Subject.String(), err, ErrResponseIdPMetadata)
		}
		root = verified
	}
	if err := checkValidUntil(root, now); err != nil {
		return nil, err
	}
	var ed *etree.Element
	switch {
	case root.NamespaceURI() == nsMetadata && root.Tag == "EntityDescriptor":
		ed = root
	case root.NamespaceURI() == nsMetadata && root.Tag == "EntitiesDescriptor":
		for _, e := range root.FindElements("//EntityDescriptor") {
			if e.NamespaceURI() == nsMetadata && e.SelectAttrValue("entityID", "") == entityID {
				ed = e
				break
			}
		}
	default:
		return nil, fmt.Errorf("idp metadata root is %s, want md:EntityDescriptor or md:EntitiesDescriptor: %w", root.FullTag(), ErrResponseIdPMetadata)
	}
	if ed == nil || ed.SelectAttrValue("entityID", "") != entityID {
		return nil, fmt.Errorf("idp metadata has no EntityDescriptor for entity id %q (check entity_id in the idp record): %w", entityID, ErrResponseIdPMetadata)
	}
	if err := checkValidUntil(ed, now); err != nil {
		return nil, err
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
					return nil, fmt.Errorf("idp metadata %q X509Certificate: %v: %w", entityID, err, ErrResponseIdPMetadata)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("idp metadata %q X509Certificate: %v: %w", entityID, err, ErrResponseIdPMetadata)
				}
				certs = append(certs, cert)
			}
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("idp metadata %q has no signing certificate in an IDPSSODescriptor: %w", entityID, ErrResponseIdPMetadata)
	}
	return certs, nil
}

func checkValidUntil(el *etree.Element, now time.Time) error {
	s := strings.TrimSpace(el.SelectAttrValue("validUntil", ""))
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("idp metadata validUntil %q: %v: %w", s, err, ErrResponseIdPMetadata)
	}
	if !now.Before(t) {
		return fmt.Errorf("idp metadata expired at %s (validUntil); fetch a fresh copy: %w", t.Format(time.RFC3339), ErrResponseIdPMetadata)
	}
	return nil
}
