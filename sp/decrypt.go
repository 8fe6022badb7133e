package sp

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des" //nolint:gosec // tripledes-cbc is accepted, with a deprecation warning, for pysaml2-based IdPs.
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// XML Encryption algorithm URIs samlkeyd accepts.
const (
	KeyTransportRSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	KeyTransportRSAOAEP      = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	KeyTransportRSA15        = "http://www.w3.org/2001/04/xmlenc#rsa-1_5" // deprecated: only with ResponseSettings.AllowRSA15
	ContentAES128CBC         = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	ContentAES192CBC         = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	ContentAES256CBC         = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	ContentAES128GCM         = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	ContentAES256GCM         = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	ContentTripleDESCBC      = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc" // deprecated: accepted with a warning
)

const (
	nsXMLEnc   = "http://www.w3.org/2001/04/xmlenc#"
	nsXMLEnc11 = "http://www.w3.org/2009/xmlenc11#"
	nsDSig     = "http://www.w3.org/2000/09/xmldsig#"
)

// ErrResponseUndecryptable is wrapped by every decryption failure: no
// credential opens the EncryptedKey, an algorithm is not accepted, or the
// ciphertext is damaged.
var ErrResponseUndecryptable = errors.New("cannot decrypt")

// contentCipher is one accepted EncryptedData algorithm.
type contentCipher struct {
	keyLen     int
	deprecated bool
	// crewjam is crewjam/saml's implementation, used where it is correct;
	// nil means decryptStd handles the algorithm (xmlenc has no
	// aes256-gcm, and its tripledes-cbc uses a 16-byte IV and panics).
	crewjam xmlenc.Decrypter
	std     func(key []byte) (cipher.Block, error)
	gcm     bool
}

// cbc reports whether the algorithm is a CBC mode (no integrity: refused
// where allow_cbc is false, counted where accepted).
func (c contentCipher) cbc() bool { return !c.gcm }

func contentCiphers() map[string]contentCipher {
	return map[string]contentCipher{
		ContentAES128CBC:    {keyLen: 16, crewjam: xmlenc.AES128CBC},
		ContentAES192CBC:    {keyLen: 24, crewjam: xmlenc.AES192CBC},
		ContentAES256CBC:    {keyLen: 32, crewjam: xmlenc.AES256CBC},
		ContentAES128GCM:    {keyLen: 16, crewjam: xmlenc.AES128GCM, gcm: true},
		ContentAES256GCM:    {keyLen: 32, std: aes.NewCipher, gcm: true},
		ContentTripleDESCBC: {keyLen: 24, std: des.NewTripleDESCipher, deprecated: true},
	}
}

// oaepDigests are the DigestMethod and MGF digests accepted in an
// EncryptedKey (absent means SHA-1, as the specs say).
func oaepDigests() map[string]crypto.Hash {
	return map[string]crypto.Hash{
		"http://www.w3.org/2000/09/xmldsig#sha1":        crypto.SHA1,
		"http://www.w3.org/2001/04/xmlenc#sha256":       crypto.SHA256,
		"http://www.w3.org/2001/04/xmldsig-more#sha256": crypto.SHA256, // seen in the wild
		"http://www.w3.org/2001/04/xmlenc#sha512":       crypto.SHA512,
	}
}

func mgfDigests() map[string]crypto.Hash {
	return map[string]crypto.Hash{
		"http://www.w3.org/2009/xmlenc11#mgf1sha1":   crypto.SHA1,
		"http://www.w3.org/2009/xmlenc11#mgf1sha256": crypto.SHA256,
		"http://www.w3.org/2009/xmlenc11#mgf1sha512": crypto.SHA512,
	}
}

// EncryptionMethods returns the algorithm URIs samlkeyd decrypts with by
// default: key transport first, then content encryption, preferred first.
// SP metadata publishes exactly this list as EncryptionMethod. rsa-1_5 is
// never listed, even when ResponseSettings.AllowRSA15 accepts it; in FIPS
// 140-3 mode tripledes-cbc is not listed either (keys/fips refuses it).
func EncryptionMethods() []string {
	return slices.DeleteFunc(encryptionMethods(), func(uri string) bool { return fips.Algorithm(uri) != nil })
}

func encryptionMethods() []string {
	return []string{
		KeyTransportRSAOAEP,
		KeyTransportRSAOAEPMGF1P,
		ContentAES256GCM,
		ContentAES128GCM,
		ContentAES256CBC,
		ContentAES192CBC,
		ContentAES128CBC,
		ContentTripleDESCBC,
	}
}

// decrypter decrypts EncryptedAssertion, EncryptedID and EncryptedAttribute
// elements with a list of credentials.
type decrypter struct {
	creds      []decryptionKey
	allowRSA15 bool
	rand       io.Reader
	warn       func(msg string, args ...any)
	limits     Limits
	// onCBC is called with the IdP name and algorithm URI on each use of
	// a CBC content algorithm.
	onCBC func(idp, algURI string)
	// Set per IdP by forIdP.
	idp       string
	refuseCBC bool
}

// forIdP returns a copy of d that decrypts for the IdP named idp.
func (d *decrypter) forIdP(idp string, refuseCBC bool) *decrypter {
	c := *d
	c.idp, c.refuseCBC = idp, refuseCBC
	return &c
}

// refusedAlgorithm marks a decryption refusal decided from algorithm names
// and element shapes alone, before any key is used: it says nothing about
// the plaintext, so its detail may be shown to the submitter.
type refusedAlgorithm struct{ error }

func (e refusedAlgorithm) Unwrap() error { return e.error }

func refusedAlg(format string, args ...any) error {
	return refusedAlgorithm{fmt.Errorf(format, args...)}
}

type decryptionKey struct {
	name string
	cert *x509.Certificate
	key  crypto.Decrypter
}

// decrypt returns the one element that the xenc:EncryptedData child of
// wrapper (an EncryptedAssertion, EncryptedID or EncryptedAttribute)
// holds. The returned element is parsed from the plaintext on its own: it
// must declare the namespaces it uses.
func (d *decrypter) decrypt(wrapper *etree.Element) (*etree.Element, error) {
	data := childNS(wrapper, nsXMLEnc, "EncryptedData")
	if data == nil {
		return nil, refusedAlg("%s: no xenc:EncryptedData: %w", wrapper.Tag, ErrResponseUndecryptable)
	}
	alg := algorithmOf(data)
	if err := fips.Algorithm(alg); err != nil {
		return nil, refusedAlg("EncryptedData algorithm %w: %w", err, ErrResponseUndecryptable)
	}
	cc, ok := contentCiphers()[alg]
	if !ok {
		return nil, refusedAlg("EncryptedData algorithm %q is not accepted (accepted: %s): %w", alg, strings.Join(EncryptionMethods()[2:], ", "), ErrResponseUndecryptable)
	}
	if cc.cbc() && d.refuseCBC {
		return nil, refusedAlg("EncryptedData algorithm %q is CBC, refused for idp %q (allow_cbc: false): ask the IdP to use aes256-gcm: %w", alg, d.idp, ErrResponseUndecryptable)
	}
	ek := encryptedKeyOf(wrapper, data)
	if ek == nil {
		return nil, refusedAlg("EncryptedData has no EncryptedKey (in its KeyInfo or beside it): %w", ErrResponseUndecryptable)
	}
	if cc.deprecated && d.warn != nil {
		d.warn("deprecated content encryption algorithm: ask the IdP to use aes256-gcm", "idp", d.idp, "algorithm", alg)
	}
	if cc.cbc() && d.onCBC != nil {
		d.onCBC(d.idp, alg)
	}
	ct, err := cipherValue(data)
	if err != nil {
		return nil, fmt.Errorf("EncryptedData: %w", err)
	}
	key, err := d.unwrapKey(ek, cc.keyLen)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	var plain []byte
	if cc.crewjam != nil {
		plain, err = d.decryptCrewjam(cc, data, key, ct)
	} else {
		plain, err = decryptStd(cc, key, ct)
	}
	if err != nil {
		return nil, fmt.Errorf("EncryptedData %s: %v: %w", alg, err, ErrResponseUndecryptable)
	}
	doc, err := parseXML(plain, d.limits)
	if err != nil {
		return nil, fmt.Errorf("decrypted %s: %w", wrapper.Tag, err)
	}
	return doc.Root(), nil
}

// decryptCrewjam hands crewjam/saml's xmlenc a copy of EncryptedData
// without its KeyInfo (it would unwrap the key again with a key type it
// only knows as *rsa.PrivateKey), after checking the lengths it slices
// without checking.
func (d *decrypter) decryptCrewjam(cc contentCipher, data *etree.Element, key, ct []byte) ([]byte, error) {
	if cc.gcm && len(ct) < 12+16 {
		return nil, fmt.Errorf("ciphertext is %d bytes, shorter than nonce and tag", len(ct))
	}
	if !cc.gcm && (len(ct) < 2*aes.BlockSize || len(ct)%aes.BlockSize != 0) {
		return nil, fmt.Errorf("ciphertext is %d bytes, not IV plus whole blocks of %d", len(ct), aes.BlockSize)
	}
	bare := data.Copy()
	for _, ki := range bare.SelectElements("KeyInfo") {
		bare.RemoveChild(ki)
	}
	return cc.crewjam.Decrypt(key, bare)
}

// decryptStd decrypts the algorithms crewjam/saml's xmlenc lacks or gets
// wrong, with the standard library's block modes.
func decryptStd(cc contentCipher, key, ct []byte) ([]byte, error) {
	block, err := cc.std(key)
	if err != nil {
		return nil, err
	}
	if cc.gcm {
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if len(ct) < aead.NonceSize()+aead.Overhead() {
			return nil, fmt.Errorf("ciphertext is %d bytes, shorter than nonce and tag", len(ct))
		}
		return aead.Open(nil, ct[:aead.NonceSize()], ct[aead.NonceSize():], nil)
	}
	bs := block.BlockSize()
	if len(ct) < 2*bs || len(ct)%bs != 0 {
		return nil, fmt.Errorf("ciphertext is %d bytes, not IV plus whole blocks of %d", len(ct), bs)
	}
	out := make([]byte, len(ct)-bs)
	cipher.NewCBCDecrypter(block, ct[:bs]).CryptBlocks(out, ct[bs:])
	// XML Encryption padding: the last byte counts the padding bytes,
	// whose other values are arbitrary.
	n := int(out[len(out)-1])
	if n < 1 || n > bs {
		return nil, errors.New("bad padding")
	}
	return out[:len(out)-n], nil
}

// unwrapKey decrypts an EncryptedKey with the credential its KeyInfo names,
// or with each credential in turn when it names none.
func (d *decrypter) unwrapKey(ek *etree.Element, keyLen int) ([]byte, error) {
	alg := algorithmOf(ek)
	var opts crypto.DecrypterOpts
	switch alg {
	case KeyTransportRSAOAEPMGF1P, KeyTransportRSAOAEP:
		o := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
		method := childNS(ek, nsXMLEnc, "EncryptionMethod")
		if dm := childNS(method, nsDSig, "DigestMethod"); dm != nil {
			h, ok := oaepDigests()[algorithmOf(dm)]
			if !ok {
				return nil, refusedAlg("EncryptedKey DigestMethod %q is not accepted (sha1, sha256, sha512): %w", algorithmOf(dm), ErrResponseUndecryptable)
			}
			o.Hash = h
		}
		if mgf := childNS(method, nsXMLEnc11, "MGF"); mgf != nil {
			if alg != KeyTransportRSAOAEP {
				return nil, refusedAlg("EncryptedKey: MGF is only allowed with %s: %w", KeyTransportRSAOAEP, ErrResponseUndecryptable)
			}
			h, ok := mgfDigests()[algorithmOf(mgf)]
			if !ok {
				return nil, refusedAlg("EncryptedKey MGF %q is not accepted: %w", algorithmOf(mgf), ErrResponseUndecryptable)
			}
			o.MGFHash = h
		}
		if p := childNS(method, nsXMLEnc, "OAEPparams"); p != nil {
			label, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.Text()))
			if err != nil {
				return nil, fmt.Errorf("EncryptedKey OAEPparams: %v: %w", err, ErrResponseUndecryptable)
			}
			o.Label = label
		}
		opts = o
	case KeyTransportRSA15:
		if err := fips.Algorithm(alg); err != nil {
			return nil, refusedAlg("EncryptedKey algorithm %w: %w", err, ErrResponseUndecryptable)
		}
		if !d.allowRSA15 {
			return nil, refusedAlg("EncryptedKey algorithm rsa-1_5 is refused (deprecated; set sp.allow_rsa1_5: true only for an IdP that cannot use rsa-oaep): %w", ErrResponseUndecryptable)
		}
		if d.warn != nil {
			d.warn("deprecated key transport rsa-1_5 used: ask the IdP to use rsa-oaep", "idp", d.idp, "algorithm", alg)
		}
		// A random session key of the expected length on bad padding
		// keeps the failure indistinguishable (Bleichenbacher).
		//lint:ignore SA1019 rsa-1_5 is accepted only when configured, for IdPs that cannot do OAEP.
		opts = &rsa.PKCS1v15DecryptOptions{SessionKeyLen: keyLen}
	default:
		return nil, refusedAlg("EncryptedKey algorithm %q is not accepted (accepted: %s): %w", alg, strings.Join(EncryptionMethods()[:2], ", "), ErrResponseUndecryptable)
	}
	ct, err := cipherValue(ek)
	if err != nil {
		return nil, fmt.Errorf("EncryptedKey: %w", err)
	}
	cands := d.creds
	if cert := recipientCert(ek); cert != nil {
		cands = nil
		for _, c := range d.creds {
			if c.cert.Equal(cert) {
				cands = []decryptionKey{c}
				break
			}
		}
		if cands == nil {
			return nil, fmt.Errorf("EncryptedKey is for certificate %q serial %s, which is not one of samlkeyd's decryption keys (has the IdP the current encryption certificate from metadata?): %w",
				cert.Subject.String(), cert.SerialNumber.String(), ErrResponseUndecryptable)
		}
	}
	var errs []error
	for _, c := range cands {
		key, err := c.key.Decrypt(d.rand, ct, opts)
		if err == nil && len(key) != keyLen {
			clear(key)
			err = fmt.Errorf("key is %d bytes, want %d", len(key), keyLen)
		}
		if err == nil {
			return key, nil
		}
		errs = append(errs, fmt.Errorf("key %q: %v", c.name, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("EncryptedKey: no decryption key configured: %w", ErrResponseUndecryptable)
	}
	return nil, fmt.Errorf("EncryptedKey (%s): %v: %w", alg, errors.Join(errs...), ErrResponseUndecryptable)
}

// encryptedKeyOf finds the EncryptedKey for data: inside its KeyInfo, or
// a sibling inside the wrapper (referenced by RetrievalMethod).
func encryptedKeyOf(wrapper, data *etree.Element) *etree.Element {
	if ki := childNS(data, nsDSig, "KeyInfo"); ki != nil {
		if ek := childNS(ki, nsXMLEnc, "EncryptedKey"); ek != nil {
			return ek
		}
	}
	return childNS(wrapper, nsXMLEnc, "EncryptedKey")
}

// recipientCert returns the certificate in an EncryptedKey's KeyInfo, or
// nil when it names none or an unparsable one.
func recipientCert(ek *etree.Element) *x509.Certificate {
	ki := childNS(ek, nsDSig, "KeyInfo")
	xd := childNS(ki, nsDSig, "X509Data")
	xc := childNS(xd, nsDSig, "X509Certificate")
	if xc == nil {
		return nil
	}
	der, err := base64.StdEncoding.DecodeString(stripSpace(xc.Text()))
	if err != nil {
		return nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	return cert
}

func cipherValue(el *etree.Element) ([]byte, error) {
	cv := childNS(childNS(el, nsXMLEnc, "CipherData"), nsXMLEnc, "CipherValue")
	if cv == nil {
		return nil, fmt.Errorf("no CipherData/CipherValue (CipherReference is not supported): %w", ErrResponseUndecryptable)
	}
	b, err := base64.StdEncoding.DecodeString(stripSpace(cv.Text()))
	if err != nil {
		return nil, fmt.Errorf("CipherValue: %v: %w", err, ErrResponseUndecryptable)
	}
	return b, nil
}

func algorithmOf(el *etree.Element) string {
	if m := childNS(el, nsXMLEnc, "EncryptionMethod"); m != nil {
		return m.SelectAttrValue("Algorithm", "")
	}
	return el.SelectAttrValue("Algorithm", "")
}

// childNS returns el's first child element with the namespace URI and
// local name, or nil (also for a nil el).
func childNS(el *etree.Element, ns, tag string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func childrenNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}

// parseXML parses one XML document after CheckStructure with l (which
// also makes the round-trip checks and refuses DTDs, so no entity is ever
// declared, let alone expanded).
func parseXML(b []byte, l Limits) (*etree.Document, error) {
	if err := CheckStructure(b, l); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, fmt.Errorf("parse xml: %w", err)
	}
	for _, tok := range doc.Child {
		if _, ok := tok.(*etree.Directive); ok {
			return nil, errors.New("xml holds a DOCTYPE: refused (entity expansion)")
		}
	}
	if doc.Root() == nil {
		return nil, errors.New("xml has no root element")
	}
	return doc, nil
}
