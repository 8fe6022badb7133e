//go:build openssl && cgo

package openssl

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/big"
	"sync"

	ossl "github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// Backend names the arithmetic backend this binary was built with.
func Backend() string { return "openssl" }

// libcryptoNames are tried in order by Init.
var libcryptoNames = []string{"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so"}

var (
	initOnce sync.Once
	initErr  error
)

func load() error {
	initOnce.Do(func() {
		for _, name := range libcryptoNames {
			if ok, _ := ossl.CheckVersion(name); ok {
				initErr = ossl.Init(name)
				return
			}
		}
		initErr = fmt.Errorf("openssl: no libcrypto found (tried %v): install libssl3", libcryptoNames)
	})
	return initErr
}

// rsaKey is an RSA private key held by OpenSSL.
type rsaKey struct {
	pub  *rsa.PublicKey
	priv *ossl.PrivateKeyRSA
}

var _ SignerDecrypter = (*rsaKey)(nil)

// NewRSA imports k into OpenSSL once; the returned key signs and decrypts
// there. Only two-prime keys are supported (all that keytool and openssl
// make).
func NewRSA(k *rsa.PrivateKey) (SignerDecrypter, error) {
	if k == nil {
		return nil, errors.New("openssl: import RSA key: nil key")
	}
	if err := load(); err != nil {
		return nil, err
	}
	if len(k.Primes) != 2 {
		return nil, fmt.Errorf("openssl: import RSA key: %d primes: only two-prime keys are supported", len(k.Primes))
	}
	if k.Precomputed.Dp == nil {
		k = &rsa.PrivateKey{PublicKey: k.PublicKey, D: k.D, Primes: k.Primes}
		k.Precompute()
	}
	c := k.Precomputed
	priv, err := ossl.NewPrivateKeyRSA(bbig.Enc(k.N), bbig.Enc(bigE(k.E)), bbig.Enc(k.D),
		bbig.Enc(k.Primes[0]), bbig.Enc(k.Primes[1]), bbig.Enc(c.Dp), bbig.Enc(c.Dq), bbig.Enc(c.Qinv))
	if err != nil {
		return nil, fmt.Errorf("openssl: import RSA key: %w", err)
	}
	pub := k.PublicKey
	return &rsaKey{pub: &pub, priv: priv}, nil
}

func (k *rsaKey) Public() crypto.PublicKey { return k.pub }

// Sign signs digest: *rsa.PSSOptions sign RSA-PSS (salt lengths as
// crypto/rsa reads them), other options PKCS#1 v1.5.
func (k *rsaKey) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if h == 0 || !h.Available() || len(digest) != h.Size() {
		return nil, fmt.Errorf("openssl: sign: digest of %d bytes does not match hash %v", len(digest), h)
	}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		return ossl.SignRSAPSS(k.priv, h, digest, pss.SaltLength)
	}
	return ossl.SignRSAPKCS1v15(k.priv, h, digest)
}

// Decrypt decrypts ct: *rsa.OAEPOptions with OAEP (Hash, MGFHash, 0 meaning
// Hash, and Label); nil or *rsa.PKCS1v15DecryptOptions with PKCS#1 v1.5,
// where a SessionKeyLen turns a padding failure into a random key of that
// length, as crypto/rsa does.
func (k *rsaKey) Decrypt(r io.Reader, ct []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	switch o := opts.(type) {
	case *rsa.OAEPOptions:
		mgf := o.MGFHash
		if mgf == 0 {
			mgf = o.Hash
		}
		h, err := newHash(o.Hash)
		if err != nil {
			return nil, err
		}
		mh, err := newHash(mgf)
		if err != nil {
			return nil, err
		}
		return ossl.DecryptRSAOAEP(h, mh, k.priv, ct, o.Label)
	case nil:
		return ossl.DecryptRSAPKCS1(k.priv, ct)
	//lint:ignore SA1019 rsa-1_5 key transport is accepted where sp allows it (allow_rsa15), as crypto/rsa does.
	case *rsa.PKCS1v15DecryptOptions:
		if o.SessionKeyLen == 0 {
			return ossl.DecryptRSAPKCS1(k.priv, ct)
		}
		if r == nil {
			r = rand.Reader
		}
		subst := make([]byte, o.SessionKeyLen)
		if _, err := io.ReadFull(r, subst); err != nil {
			return nil, fmt.Errorf("openssl: decrypt: random session key: %w", err)
		}
		pt, err := ossl.DecryptRSAPKCS1(k.priv, ct)
		if err != nil || len(pt) != o.SessionKeyLen {
			return subst, nil
		}
		return pt, nil
	}
	return nil, fmt.Errorf("openssl: decrypt: options %T not supported", opts)
}

func newHash(h crypto.Hash) (hash.Hash, error) {
	switch h {
	case crypto.SHA1:
		return ossl.NewSHA1(), nil
	case crypto.SHA224:
		return ossl.NewSHA224(), nil
	case crypto.SHA256:
		return ossl.NewSHA256(), nil
	case crypto.SHA384:
		return ossl.NewSHA384(), nil
	case crypto.SHA512:
		return ossl.NewSHA512(), nil
	}
	return nil, fmt.Errorf("openssl: OAEP hash %v not supported", h)
}

func bigE(e int) *big.Int { return big.NewInt(int64(e)) }
