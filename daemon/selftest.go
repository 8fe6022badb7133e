package daemon

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
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
	if errors.Is(err, pkcs11.ErrUnsupportedOpt) {
		// A token without OAEP-SHA256 (SoftHSM2): test the XML Encryption
		// default, rsa-oaep-mgf1p (OAEP with SHA-1), which IdPs send.
		if ct, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, plain, nil); err != nil {
			return err
		}
		got, err = dec.Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA1})
	}
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
// certificate metadata publishes first with the verifiers IdP messages go
// through: sp.VerifyRedirect over the query octets (bindings 3.4.4.1),
// sp.VerifyPOST for the enveloped signature.
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
	certs := []*x509.Certificate{published}
	red, err := svc.AuthnRequest(sp.AuthnOptions{IdP: idp, Binding: sp.BindingRedirect, RelayState: "self-test"})
	if err != nil {
		return fmt.Errorf("self-test: sign a redirect AuthnRequest for %s: %w", idp, err)
	}
	if err := verifyRedirectSignature(red.URL, published); err != nil {
		return fmt.Errorf("self-test: redirect AuthnRequest for %s: %w", idp, err)
	}
	post, err := svc.AuthnRequest(sp.AuthnOptions{IdP: idp, Binding: sp.BindingPOST})
	if err != nil {
		return fmt.Errorf("self-test: sign a POST AuthnRequest for %s: %w", idp, err)
	}
	// Our own messages: rsa-sha1 is verified where an IdP is configured with it.
	if _, err := sp.VerifyPOST(url.Values{sp.ParamSAMLRequest: {post.Fields[sp.ParamSAMLRequest]}}, certs, true, now); err != nil {
		return fmt.Errorf("self-test: POST AuthnRequest for %s does not verify with the published certificate: %w", idp, err)
	}
	return nil
}

// verifyRedirectSignature verifies the HTTP-Redirect binding signature of
// a signed message URL with cert (sp.VerifyRedirect over its raw query).
func verifyRedirectSignature(rawURL string, cert *x509.Certificate) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	_, err = sp.VerifyRedirect(u.RawQuery, []*x509.Certificate{cert}, true)
	return err
}
