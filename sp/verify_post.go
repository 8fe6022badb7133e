package sp

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net/url"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// VerifyPOST verifies a message the HTTP-POST binding delivered, given the
// form as posted (SAMLRequest or SAMLResponse, base64; RelayState). The
// message must carry exactly one ds:Signature in the whole document, a
// child of the root, with one Reference to the root's ID; it is verified
// with goxmldsig (exclusive c14n, the enveloped-signature transform) and
// XML holds only the signed element as goxmldsig returned it, so nothing
// outside the signature is read afterwards. The size caps and XML checks
// are the response validator's (MaxResponseBase64, MaxResponseXML, the
// round-trip check, no DTD).
//
// certs are the sender's signing certificates; each is tried in turn, and
// KeyInfo is ignored (the keys are trusted as configured, not as the
// message names them). goxmldsig refuses a certificate outside its
// validity period at now. ECDSA signatures are read as XML-DSig 1.1's
// r||s. rsa-sha1 and a sha1 digest need allowSHA1. Every refusal is a
// *MessageError.
func VerifyPOST(form url.Values, certs []*x509.Certificate, allowSHA1 bool, now time.Time) (*ReceivedMessage, error) {
	return verifyPOST(form, certs, allowSHA1, now, Limits{})
}

// verifyPOST is VerifyPOST with the structural limits l (zero fields:
// DefaultLimits).
func verifyPOST(form url.Values, certs []*x509.Certificate, allowSHA1 bool, now time.Time, l Limits) (*ReceivedMessage, error) {
	m, err := parsePOST(form, l)
	if err != nil {
		return nil, err
	}
	return m.verifyPOST(certs, allowSHA1, now)
}

// verifyPOST verifies the enveloped signature of a message parsePOST read.
func (m *ReceivedMessage) verifyPOST(certs []*x509.Certificate, allowSHA1 bool, now time.Time) (*ReceivedMessage, error) {
	if !m.Signed {
		return nil, refuseMessage(CheckSignature, "%s %s is not signed", m.Param, m.Kind)
	}
	alg, err := checkEnveloped(m.root, m.ID, allowSHA1)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, refuseMessage(CheckSignature, "no certificate to verify the signature with")
	}
	// Work on a copy without KeyInfo: goxmldsig then takes the one
	// configured certificate it is given.
	el := m.root.Copy()
	sig := childNS(el, nsDSig, "Signature")
	if ki := childNS(sig, nsDSig, "KeyInfo"); ki != nil {
		sig.RemoveChild(ki)
	}
	var verified *etree.Element
	var lastErr error
	for _, c := range certs {
		if verified, lastErr = validateWith(el, sig, alg, c, now); lastErr == nil {
			m.Signer = c
			break
		}
	}
	if m.Signer == nil {
		return nil, refuseMessage(CheckSignature, "%s does not verify with any of the %d certificates: %v", m.Kind, len(certs), lastErr)
	}
	if kind, id, err := checkRoot(m.Param, verified); err != nil || kind != m.Kind || id != m.ID {
		return nil, refuseMessage(CheckSignature, "the signed element is not the %s %q that was posted", m.Kind, m.ID)
	}
	doc := etree.NewDocument()
	doc.SetRoot(verified)
	if m.XML, err = doc.WriteToBytes(); err != nil {
		return nil, refuseMessage(CheckMalformed, "serialize the signed element: %v", err)
	}
	m.Algorithm, m.root = alg, verified
	return m, nil
}

// ParsePOST reads a message the HTTP-POST binding delivered without
// checking its signature, for a sender whose record allows unsigned
// messages; XML is the whole decoded document. A message that is signed
// (Signed) should go to VerifyPOST instead. Every refusal is a
// *MessageError.
func ParsePOST(form url.Values) (*ReceivedMessage, error) {
	return parsePOST(form, Limits{})
}

func parsePOST(form url.Values, l Limits) (*ReceivedMessage, error) {
	req, resp := form[ParamSAMLRequest], form[ParamSAMLResponse]
	m := &ReceivedMessage{Binding: BindingPOST}
	switch {
	case len(req) > 0 && len(resp) > 0:
		return nil, refuseMessage(CheckMalformed, "form holds both SAMLRequest and SAMLResponse")
	case len(req) == 1:
		m.Param = ParamSAMLRequest
	case len(resp) == 1:
		m.Param = ParamSAMLResponse
	case len(req)+len(resp) == 0:
		return nil, refuseMessage(CheckMalformed, "form holds neither SAMLRequest nor SAMLResponse")
	case len(req) > 1:
		return nil, refuseMessage(CheckMalformed, "form field SAMLRequest occurs %d times", len(req))
	default:
		return nil, refuseMessage(CheckMalformed, "form field SAMLResponse occurs %d times", len(resp))
	}
	if rs := form[ParamRelayState]; len(rs) > 1 {
		return nil, refuseMessage(CheckMalformed, "form field RelayState occurs %d times", len(rs))
	} else if len(rs) == 1 {
		m.RelayState = rs[0]
	}
	b64 := form.Get(m.Param)
	if len(b64) > MaxResponseBase64 {
		return nil, refuseMessage(CheckMalformed, "%s is %d bytes of base64, over the %d-byte cap", m.Param, len(b64), MaxResponseBase64)
	}
	raw, err := base64.StdEncoding.DecodeString(stripSpace(b64))
	if err != nil || len(raw) == 0 {
		return nil, refuseMessage(CheckMalformed, "%s is empty or not base64", m.Param)
	}
	if len(raw) > MaxResponseXML {
		return nil, refuseMessage(CheckMalformed, "%s decodes to %d bytes, over the %d-byte cap", m.Param, len(raw), MaxResponseXML)
	}
	doc, err := parseXML(raw, l)
	if err != nil {
		return nil, asMessageError(err)
	}
	if m.Kind, m.ID, err = checkRoot(m.Param, doc.Root()); err != nil {
		return nil, err
	}
	m.Signed = childNS(doc.Root(), nsDSig, "Signature") != nil
	m.XML, m.root = raw, doc.Root()
	return m, nil
}

// checkEnveloped checks the shape of the signature before goxmldsig sees
// it, because goxmldsig searches the whole tree for a Signature and takes
// an empty Reference URI for the document: exactly one element named
// Signature in the document, a ds:Signature child of the root, whose SignedInfo has one Reference, to
// "#"+id, and a signature and digest algorithm this sender may use.
func checkEnveloped(root *etree.Element, id string, allowSHA1 bool) (Algorithm, error) {
	if n := countSignatures(root); n != 1 {
		return Algorithm{}, refuseMessage(CheckSignature, "%s holds %d Signature elements; exactly one, a ds:Signature child of the root, is accepted", root.Tag, n)
	}
	sig := childNS(root, nsDSig, "Signature")
	if sig == nil {
		return Algorithm{}, refuseMessage(CheckSignature, "the ds:Signature of %s is not a child of the root", root.Tag)
	}
	si := childNS(sig, nsDSig, "SignedInfo")
	if si == nil {
		return Algorithm{}, refuseMessage(CheckSignature, "ds:Signature has no SignedInfo")
	}
	refs := childrenNS(si, nsDSig, "Reference")
	if len(refs) != 1 || refs[0].SelectAttrValue("URI", "") != "#"+id {
		return Algorithm{}, refuseMessage(CheckSignature, "SignedInfo must hold exactly one Reference, to #%s", id)
	}
	sm := childNS(si, nsDSig, "SignatureMethod")
	if sm == nil {
		return Algorithm{}, refuseMessage(CheckSignature, "SignedInfo has no SignatureMethod")
	}
	alg, err := signatureAlgorithm(sm.SelectAttrValue("Algorithm", ""), allowSHA1)
	if err != nil {
		return Algorithm{}, err
	}
	if dm := childNS(refs[0], nsDSig, "DigestMethod"); dm == nil {
		return Algorithm{}, refuseMessage(CheckSignature, "Reference has no DigestMethod")
	} else if err := fips.Algorithm(dm.SelectAttrValue("Algorithm", "")); err != nil {
		return Algorithm{}, refuseMessage(CheckSignature, "digest algorithm %w", err)
	} else if d, err := LookupDigestAlgorithm(dm.SelectAttrValue("Algorithm", "")); err != nil || d.URI != dm.SelectAttrValue("Algorithm", "") {
		return Algorithm{}, refuseMessage(CheckSignature, "digest algorithm %q is not supported", dm.SelectAttrValue("Algorithm", ""))
	} else if d.Deprecated && !allowSHA1 {
		return Algorithm{}, refuseMessage(CheckSignature, "digest algorithm %s is not accepted from this sender (rsa-sha1 must be allowed for it)", d.Name)
	}
	return alg, nil
}

// countSignatures counts the elements named Signature under root, in any
// namespace: resolving each one's namespace walks its ancestors, which a
// deep document would make quadratic, and no SAML request or logout
// message has another element of that name. It walks iteratively so that
// depth costs no stack.
func countSignatures(root *etree.Element) int {
	n := 0
	stack := []*etree.Element{root}
	for len(stack) > 0 {
		el := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if el.Tag == "Signature" {
			n++
		}
		stack = append(stack, el.ChildElements()...)
	}
	return n
}

// validateWith verifies el's enveloped signature with cert alone. For an
// ECDSA key an r||s SignatureValue is rewritten as the ASN.1 DER that
// goxmldsig (crypto/x509) checks; SignatureValue is outside SignedInfo, so
// the rewrite changes nothing that is signed.
func validateWith(el, sig *etree.Element, alg Algorithm, cert *x509.Certificate, now time.Time) (*etree.Element, error) {
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); ok && alg.Key == KeyEC {
		if sv := childNS(sig, nsDSig, "SignatureValue"); sv != nil {
			text := sv.Text()
			if der, ok := ecdsaDER(stripSpace(text), (pub.Curve.Params().BitSize+7)/8); ok {
				sv.SetText(der)
				defer sv.SetText(text)
			}
		}
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	return vc.Validate(el)
}

// ecdsaDER turns a base64 r||s signature of 2*size bytes into base64 ASN.1
// DER; ok is false when the value is not of that length.
func ecdsaDER(b64 string, size int) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 2*size {
		return "", false
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:size]), new(big.Int).SetBytes(raw[size:])})
	if err != nil {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(der), true
}
