package daemon

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
	"github.com/samlkeyd/samlkeyd/store"
)

// The opener serves a keystore record's in-process RSA key through the
// binary's arithmetic backend (keys/openssl): built with -tags openssl the
// key is imported into libcrypto here, once per record version, and the
// imported key is what the build cache keeps and every snapshot of that
// version signs and decrypts with; the default build serves the
// *rsa.PrivateKey itself. Token (pkcs11) keys and EC keys are left as they
// are.

// keystoreCredential opens a keystore record as a key of use, its RSA key
// in the backend.
func keystoreCredential(rec *store.Record, use keys.Use) (*keys.Credential, error) {
	c, err := rec.Credential(use)
	if err != nil {
		return nil, err
	}
	if c.Signer, err = backendKey(rec, c.Signer); err != nil {
		return nil, err
	}
	return c, nil
}

// keystoreEntry opens a keystore record's private-key entry (an mTLS
// client key), its RSA key in the backend.
func keystoreEntry(rec *store.Record) (*keys.Entry, error) {
	e, err := rec.KeyEntry()
	if err != nil {
		return nil, err
	}
	if e.Key, err = backendKey(rec, e.Key); err != nil {
		return nil, err
	}
	return e, nil
}

// backendKey imports an RSA key into the backend; other keys are returned
// as they are. An import that fails names the record.
func backendKey(rec *store.Record, k crypto.Signer) (crypto.Signer, error) {
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return k, nil
	}
	sd, err := openssl.NewRSA(rk)
	if err != nil {
		return nil, fmt.Errorf("open certificate record %s (%q): import its RSA key into the %s backend: %w", rec.ID, rec.Name, openssl.Backend(), err)
	}
	return sd, nil
}
