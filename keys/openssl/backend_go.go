//go:build !openssl || !cgo

package openssl

import (
	"crypto/rsa"
	"errors"
)

// Backend names the arithmetic backend this binary was built with.
func Backend() string { return "go" }

// NewRSA returns k: the default build signs and decrypts with crypto/rsa.
func NewRSA(k *rsa.PrivateKey) (SignerDecrypter, error) {
	if k == nil {
		return nil, errors.New("openssl: import RSA key: nil key")
	}
	return k, nil
}
