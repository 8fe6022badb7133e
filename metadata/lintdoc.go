package metadata

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// maxLintSize bounds the document Lint reads: SP metadata is a few KiB.
const maxLintSize = 4 << 20

// mdFacts is what the lint rules look at, read once from the document.
type mdFacts struct {
	validUntil    time.Time
	hasValidUntil bool
	contacts      []mdContact
	organization  bool // Organization with name, display name and URL
	displayNames  map[string]string
	privacyURLs   map[string]string
	uiURLs        []string // InformationURL, PrivacyStatementURL, Logo
	endpoints     []string // every Location (and ResponseLocation) of the SP role
	keys          []mdKey
	algSigning    []string
	algDigest     []string
	encMethods    []string
	dsigMethods   []string // SignatureMethod and DigestMethod of the metadata signature
	assurance     []string
}

type mdContact struct {
	typ, remdType string
	email         bool
}

type mdKey struct {
	use  string // signing, encryption or "" (both)
	cert *x509.Certificate
	err  error
}

// child elements of el with the given namespace and local name.
func elems(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// readFacts parses doc, an EntityDescriptor with an SPSSODescriptor.
func readFacts(doc []byte) (*mdFacts, error) {
	if len(doc) > maxLintSize {
		return nil, fmt.Errorf("metadata is %d bytes, more than the %d an SP's metadata can be", len(doc), maxLintSize)
	}
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return nil, fmt.Errorf("parse metadata: %w", err)
	}
	ed := d.Root()
	if ed == nil || ed.Tag != "EntityDescriptor" || ed.NamespaceURI() != nsMD {
		return nil, fmt.Errorf("parse metadata: the root is not an md:EntityDescriptor")
	}
	sps := elems(ed, nsMD, "SPSSODescriptor")
	if len(sps) != 1 {
		return nil, fmt.Errorf("parse metadata: %d SPSSODescriptor elements, want 1", len(sps))
	}
	sd := sps[0]
	f := &mdFacts{displayNames: map[string]string{}, privacyURLs: map[string]string{}}
	if v := ed.SelectAttrValue("validUntil", ""); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("parse metadata: validUntil %q: %w", v, err)
		}
		f.validUntil, f.hasValidUntil = t, true
	}
	for _, cp := range elems(ed, nsMD, "ContactPerson") {
		c := mdContact{typ: cp.SelectAttrValue("contactType", ""), email: len(elems(cp, nsMD, "EmailAddress")) > 0}
		for _, a := range cp.Attr {
			if a.Key == "contactType" && a.NamespaceURI() == nsREMD {
				c.remdType = a.Value
			}
		}
		f.contacts = append(f.contacts, c)
	}
	for _, o := range elems(ed, nsMD, "Organization") {
		f.organization = len(elems(o, nsMD, "OrganizationName")) > 0 && len(elems(o, nsMD, "OrganizationDisplayName")) > 0 && len(elems(o, nsMD, "OrganizationURL")) > 0
	}
	for _, sig := range elems(ed, nsDS, "Signature") {
		for _, si := range elems(sig, nsDS, "SignedInfo") {
			for _, m := range elems(si, nsDS, "SignatureMethod") {
				f.dsigMethods = append(f.dsigMethods, m.SelectAttrValue("Algorithm", ""))
			}
			for _, r := range elems(si, nsDS, "Reference") {
				for _, m := range elems(r, nsDS, "DigestMethod") {
					f.dsigMethods = append(f.dsigMethods, m.SelectAttrValue("Algorithm", ""))
				}
			}
		}
	}
	for _, ext := range append(elems(ed, nsMD, "Extensions"), elems(sd, nsMD, "Extensions")...) {
		f.readExtensions(ext)
	}
	f.readRole(sd)
	return f, nil
}

func (f *mdFacts) readExtensions(ext *etree.Element) {
	for _, m := range elems(ext, nsAlg, "SigningMethod") {
		f.algSigning = append(f.algSigning, m.SelectAttrValue("Algorithm", ""))
	}
	for _, m := range elems(ext, nsAlg, "DigestMethod") {
		f.algDigest = append(f.algDigest, m.SelectAttrValue("Algorithm", ""))
	}
	for _, ea := range elems(ext, nsMDAttr, "EntityAttributes") {
		for _, a := range elems(ea, nsSAML, "Attribute") {
			if a.SelectAttrValue("Name", "") != AssuranceCertificationAttribute {
				continue
			}
			for _, v := range elems(a, nsSAML, "AttributeValue") {
				f.assurance = append(f.assurance, strings.TrimSpace(v.Text()))
			}
		}
	}
	for _, ui := range elems(ext, nsMDUI, "UIInfo") {
		for _, el := range ui.ChildElements() {
			if el.NamespaceURI() != nsMDUI {
				continue
			}
			lang, text := el.SelectAttrValue("xml:lang", ""), strings.TrimSpace(el.Text())
			switch el.Tag {
			case "DisplayName":
				f.displayNames[lang] = text
			case "PrivacyStatementURL":
				f.privacyURLs[lang] = text
				f.uiURLs = append(f.uiURLs, text)
			case "InformationURL", "Logo":
				f.uiURLs = append(f.uiURLs, text)
			}
		}
	}
	for _, d := range elems(ext, nsIdPDisc, "DiscoveryResponse") {
		f.endpoints = append(f.endpoints, d.SelectAttrValue("Location", ""))
	}
}

func (f *mdFacts) readRole(sd *etree.Element) {
	for _, kd := range elems(sd, nsMD, "KeyDescriptor") {
		k := mdKey{use: kd.SelectAttrValue("use", "")}
		k.cert, k.err = keyDescriptorCert(kd)
		f.keys = append(f.keys, k)
		for _, m := range elems(kd, nsMD, "EncryptionMethod") {
			f.encMethods = append(f.encMethods, m.SelectAttrValue("Algorithm", ""))
		}
	}
	for _, el := range sd.ChildElements() {
		if el.NamespaceURI() != nsMD {
			continue
		}
		for _, attr := range []string{"Location", "ResponseLocation"} {
			if v := el.SelectAttr(attr); v != nil {
				f.endpoints = append(f.endpoints, v.Value)
			}
		}
	}
}

// keyDescriptorCert returns the first X509Certificate of a KeyDescriptor.
func keyDescriptorCert(kd *etree.Element) (*x509.Certificate, error) {
	var certs []*etree.Element
	for _, ki := range elems(kd, nsDS, "KeyInfo") {
		for _, xd := range elems(ki, nsDS, "X509Data") {
			certs = append(certs, elems(xd, nsDS, "X509Certificate")...)
		}
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("KeyDescriptor has no ds:X509Certificate")
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(certs[0].Text()), ""))
	if err != nil {
		return nil, fmt.Errorf("X509Certificate is not base64: %w", err)
	}
	return x509.ParseCertificate(der)
}

// keyBits returns the size of an RSA modulus or EC curve, and "RSA" or "EC".
func keyBits(c *x509.Certificate) (int, string) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen(), "RSA"
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize, "EC"
	}
	return 0, c.PublicKeyAlgorithm.String()
}
