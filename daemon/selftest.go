package daemon

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// selfTest proves the snapshot is consistent with what it publishes: the
// current signing key signs something the first published signing
// certificate verifies, and every published encryption certificate
// encrypts something its credential decrypts. It runs on every snapshot
// build (a failure rejects the snapshot) and with every expiry scan (a
// failure is an alert).
func selfTest(ks *keys.KeySet) error {
	var errs []error
	if cur := ks.Current(keys.UseSigning); cur != nil {
		if len(ks.Signing) == 0 || ks.Signing[0] != cur {
			errs = append(errs, errors.New("self-test: the current signing key is not the first one published"))
		}
		if err := signVerify(cur); err != nil {
			errs = append(errs, fmt.Errorf("self-test: signing key %s (%q): %w", cur.RecordID, cur.RecordName, err))
		}
	}
	for _, c := range ks.Encryption {
		if err := encryptDecrypt(c); err != nil {
			errs = append(errs, fmt.Errorf("self-test: %s encryption key %s (%q): %w", c.Role, c.RecordID, c.RecordName, err))
		}
	}
	return errors.Join(errs...)
}

func signVerify(c *keys.Credential) error {
	digest := sha256.Sum256([]byte("samlkeyd self-test"))
	sig, err := c.Signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	switch pub := c.Leaf().PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			return errors.New("signature does not verify with the published certificate")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", c.Leaf().PublicKey)
}

func encryptDecrypt(c *keys.Credential) error {
	pub, ok := c.Leaf().PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("published certificate holds a %T key: encryption needs RSA", c.Leaf().PublicKey)
	}
	dec, ok := c.Signer.(crypto.Decrypter)
	if !ok {
		return errors.New("the key cannot decrypt")
	}
	plain := make([]byte, 32)
	if _, err := rand.Read(plain); err != nil {
		return err
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, plain, nil)
	if err != nil {
		return err
	}
	got, err := dec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA256})
	if err != nil {
		return fmt.Errorf("a test encryption to the published certificate does not decrypt: %w", err)
	}
	if !bytes.Equal(got, plain) {
		return errors.New("a test encryption to the published certificate decrypts to other bytes")
	}
	return nil
}

// messageSelfTest signs an AuthnRequest in both bindings for the first IdP
// that has Sign AuthnRequest on, and verifies each against the signing
// certificate metadata publishes first: the redirect binding's query
// signature per the bindings spec, the POST binding's XML signature with
// goxmldsig (RSA; goxmldsig cannot check XML-DSig 1.1's r||s ECDSA form).
func messageSelfTest(svc *sp.Service, cfg *config.Config, published *x509.Certificate, now time.Time) error {
	idp := ""
	for _, p := range cfg.IdPs {
		if p.SignAuthnRequest {
			idp = p.Name
			break
		}
	}
	if idp == "" || published == nil {
		return nil
	}
	red, err := svc.AuthnRequest(sp.AuthnOptions{IdP: idp, Binding: sp.BindingRedirect, RelayState: "self-test"})
	if err != nil {
		return fmt.Errorf("self-test: sign a redirect AuthnRequest for %s: %w", idp, err)
	}
	if err := verifyRedirectSignature(red.URL, published); err != nil {
		return fmt.Errorf("self-test: redirect AuthnRequest for %s: %w", idp, err)
	}
	if _, ok := published.PublicKey.(*rsa.PublicKey); !ok {
		return nil
	}
	post, err := svc.AuthnRequest(sp.AuthnOptions{IdP: idp, Binding: sp.BindingPOST})
	if err != nil {
		return fmt.Errorf("self-test: sign a POST AuthnRequest for %s: %w", idp, err)
	}
	raw, err := base64.StdEncoding.DecodeString(post.Fields["SAMLRequest"])
	if err != nil {
		return fmt.Errorf("self-test: POST AuthnRequest: %w", err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		return fmt.Errorf("self-test: POST AuthnRequest: %w", err)
	}
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{published}})
	vc.Clock = dsig.NewFakeClockAt(now)
	if _, err := vc.Validate(doc.Root()); err != nil {
		return fmt.Errorf("self-test: POST AuthnRequest for %s does not verify with the published certificate: %w", idp, err)
	}
	return nil
}

// verifyRedirectSignature checks an HTTP-Redirect binding signature
// (SAML bindings 3.4.4.1): over the raw query up to &Signature=, with the
// algorithm SigAlg names.
func verifyRedirectSignature(rawURL string, cert *x509.Certificate) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	signed, _, ok := strings.Cut(u.RawQuery, "&Signature=")
	if !ok {
		return errors.New("no Signature parameter")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return err
	}
	alg, err := sp.LookupAlgorithm(q.Get("SigAlg"))
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(q.Get("Signature"))
	if err != nil {
		return err
	}
	h := alg.Hash.New()
	h.Write([]byte(signed))
	digest := h.Sum(nil)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, alg.Hash, digest, sig)
	case *ecdsa.PublicKey:
		n := len(sig) / 2
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		if !ecdsa.Verify(pub, digest, r, s) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T", cert.PublicKey)
}
