package pkcs11

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys"
)

// Renew starts the renewal of a CA-signed token key, as keytool -genkeypair
// then -certreq do for a keystore: it generates a new key pair in the token
// o.Options.URI names, of old's key type and size and with old's subject
// (o.KeyType, o.KeySize and o.DName are taken from old), with a placeholder
// self-signed certificate, and returns the open key and a PEM CSR signed
// through the token. The CA's reply becomes the new key's chain with
// samlkeyd cert add --type pkcs11 --file. When the CSR cannot be made the
// new key is deleted again.
func Renew(o GenerateOptions, old *x509.Certificate) (*Key, []byte, error) {
	switch pub := old.PublicKey.(type) {
	case *rsa.PublicKey:
		o.KeyType, o.KeySize = "rsa", pub.N.BitLen()
	case *ecdsa.PublicKey:
		o.KeyType, o.KeySize = "ec", pub.Curve.Params().BitSize
	default:
		return nil, nil, fmt.Errorf("renew %s: key type %T: want RSA or EC", old.Subject, old.PublicKey)
	}
	o.DName = old.Subject.String()
	k, err := Generate(o)
	if err != nil {
		return nil, nil, fmt.Errorf("renew %s: %w", old.Subject, err)
	}
	csr, err := keys.CSR(&keys.Entry{Alias: k.URI().Object, Key: k.Signer(), Chain: k.Chain()}, o.Rand)
	if err != nil {
		if derr := k.Delete(); derr != nil {
			return nil, nil, fmt.Errorf("renew %s: certificate request: %w; and the new key was left on the token: %w", old.Subject, err, derr)
		}
		return nil, nil, fmt.Errorf("renew %s: certificate request (the new key was deleted again): %w", old.Subject, err)
	}
	return k, csr, nil
}
