// Package openssl owns the arithmetic backend of in-process RSA keys. In the
// default build (pure Go) NewRSA returns the *rsa.PrivateKey itself and
// Backend reports "go". Built with -tags openssl (cgo, Debian libssl-dev to
// build, libssl3 to run), NewRSA imports the key into the system's
// libcrypto once, through github.com/golang-fips/openssl/v2, and signs and
// decrypts there; Backend reports "openssl".
package openssl

import (
	"crypto"
)

// SignerDecrypter is an RSA private key as samlkeyd uses it: it signs
// (PKCS#1 v1.5 and PSS) and decrypts (OAEP and PKCS#1 v1.5).
type SignerDecrypter interface {
	crypto.Signer
	crypto.Decrypter
}
