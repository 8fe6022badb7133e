package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
)

// Validate opens the token key o names with o.Chain (the chain stored with
// a record) and checks it as keys.Validate checks a keystore (dates, key
// sizes, chain order), plus that the key on the token is the chain's leaf
// key and that a signature made through the token verifies with the leaf.
// A token, PIN or key that does not open is a problem in the report, not
// an error: the record is what is invalid.
func Validate(o Options, now time.Time) keys.Report {
	if o.MaxSessions == 0 {
		o.MaxSessions = 2
	}
	k, err := Open(o)
	if err != nil {
		return keys.Report{Problems: []string{err.Error()}}
	}
	defer k.Close()
	alias := o.URI.Object
	rep := keys.Validate(&keys.Keystore{Format: "pkcs11", Entries: []*keys.Entry{{Alias: alias, Key: k.Signer(), Chain: k.Chain()}}}, now)
	if err := signVerify(k); err != nil {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s: a test signature through the token: %v", o.URI, err))
	}
	return rep
}

// signVerify signs a digest through the token and verifies it with the
// chain's leaf.
func signVerify(k *Key) error {
	d := sha256.Sum256([]byte("samlkeyd cert validate"))
	sig, err := k.Signer().Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		return err
	}
	switch pub := k.Chain()[0].PublicKey.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			return errors.New("does not verify with the certificate")
		}
		return nil
	}
	return fmt.Errorf("key type %T: want RSA or EC", k.Chain()[0].PublicKey)
}
