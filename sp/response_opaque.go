package sp

import (
	"errors"
	"time"

	"github.com/beevik/etree"
)

// ErrResponseOpaque is the one answer to every failure between an
// unsigned Response's EncryptedAssertion and its verified signature:
// unwrapping the key, decrypting, padding, parsing the plaintext, its
// element and its signature. Detail from those layers would make the
// validator a decryption oracle (a chosen CBC ciphertext's padding or XML
// error tells bytes of its plaintext), so it goes to the debug log only.
var ErrResponseOpaque = errors.New("the encrypted assertion could not be decrypted and verified (detail at log level debug)")

// openAssertion decrypts an EncryptedAssertion and verifies the signature
// of the assertion inside. When the Response was not signed (so the
// ciphertext is the submitter's to choose) every failure after the
// algorithm checks is the same *ResponseError: CheckDecrypt with
// ErrResponseOpaque. A signed Response was verified before anything was
// decrypted, so its ciphertext is the IdP's and failures keep their
// detail.
func (v *ResponseValidator) openAssertion(p ResponseIdP, dec *decrypter, enc *etree.Element, responseSigned bool, now time.Time) (*etree.Element, error) {
	el, err := dec.decrypt(enc)
	if err != nil {
		var ra refusedAlgorithm
		if responseSigned || errors.As(err, &ra) {
			return nil, refuse(CheckDecrypt, "EncryptedAssertion: %w", err)
		}
		return nil, v.opaque(p, refuse(CheckDecrypt, "EncryptedAssertion: %w", err))
	}
	if el.Tag != "Assertion" || el.NamespaceURI() != nsSAML {
		err = refuse(CheckMalformed, "EncryptedAssertion holds %s, want saml:Assertion", el.FullTag())
	} else {
		el, err = v.assertionSigned(p, el, responseSigned, now)
	}
	if err != nil && !responseSigned {
		return nil, v.opaque(p, err)
	}
	return el, err
}

// assertionSigned verifies the assertion's signature where there is one
// and returns the assertion as signed; it refuses an unsigned assertion
// where the IdP record requires a signed one or the Response is unsigned.
func (v *ResponseValidator) assertionSigned(p ResponseIdP, as *etree.Element, responseSigned bool, now time.Time) (*etree.Element, error) {
	if childNS(as, nsDSig, "Signature") != nil {
		verified, err := v.verifySignature(p, as, now)
		if err != nil {
			return nil, refuse(CheckSignature, "Assertion: %w", err)
		}
		return verified, nil
	}
	if p.WantAssertionSigned || !responseSigned {
		return nil, refuse(CheckSignature, "Assertion is not signed, and idp %q requires it (or the Response is not signed either)", p.Name)
	}
	return as, nil
}

// opaque logs err at debug level and returns the one opaque refusal.
func (v *ResponseValidator) opaque(p ResponseIdP, err error) error {
	v.log.Debug("encrypted assertion refused", "idp", p.Name, "err", err)
	return &ResponseError{Check: CheckDecrypt, Err: ErrResponseOpaque}
}

// sha1Signatures are the SHA-1 signature and digest methods refused in
// IdP signatures unless the IdP record has allow_sha1.
func sha1Signatures() map[string]bool {
	return map[string]bool{
		RSASHA1:    true,
		DigestSHA1: true,
		"http://www.w3.org/2000/09/xmldsig#dsa-sha1":        true,
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": true,
		"http://www.w3.org/2000/09/xmldsig#hmac-sha1":       true,
	}
}

// sha1Use returns the first SHA-1 SignatureMethod or DigestMethod URI in
// a ds:Signature inside el (any of them: goxmldsig looks for the one that
// references el anywhere in it), or "".
func sha1Use(el *etree.Element) string {
	bad := sha1Signatures()
	var found string
	var walk func(e *etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			if found != "" {
				return
			}
			if c.Tag == "Signature" && c.NamespaceURI() == nsDSig {
				si := childNS(c, nsDSig, "SignedInfo")
				if si == nil {
					continue
				}
				if m := childNS(si, nsDSig, "SignatureMethod"); m != nil && bad[m.SelectAttrValue("Algorithm", "")] {
					found = m.SelectAttrValue("Algorithm", "")
					return
				}
				for _, ref := range childrenNS(si, nsDSig, "Reference") {
					if m := childNS(ref, nsDSig, "DigestMethod"); m != nil && bad[m.SelectAttrValue("Algorithm", "")] {
						found = m.SelectAttrValue("Algorithm", "")
						return
					}
				}
				continue
			}
			walk(c)
		}
	}
	walk(el)
	return found
}
