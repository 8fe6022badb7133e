package sp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	_ "crypto/sha1" // rsa-sha1 and the sha1 digest, deprecated but still registered
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"
)

// Key types an Algorithm signs with.
const (
	KeyRSA = "RSA"
	KeyEC  = "EC"
)

// The XML-DSig signature method URIs of the registry.
const (
	RSASHA1     = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	RSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	RSASHA384   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	RSASHA512   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ECDSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
	ECDSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512"
)

// The XML-DSig digest method URIs of the registry.
const (
	DigestSHA1   = "http://www.w3.org/2000/09/xmldsig#sha1"
	DigestSHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
	DigestSHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	DigestSHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
)

// MinRSABits is the smallest RSA modulus an RSA algorithm signs with.
const MinRSABits = 2048

// Errors of the algorithm registry.
var (
	ErrUnknownAlgorithm = errors.New("unknown signature algorithm")
	ErrKeyMismatch      = errors.New("key does not fit the signature algorithm")
)

// Algorithm is one XML-DSig signature algorithm: its URI (what SigAlg and
// SignatureMethod carry), its short name, its hash and the key type it
// signs with. Deprecated algorithms are used only where configured by name,
// with a warning on every use.
type Algorithm struct {
	URI        string
	Name       string
	Hash       crypto.Hash
	Key        string // KeyRSA or KeyEC
	Deprecated bool
}

// DigestAlgorithm is one XML-DSig digest method for the Reference of an
// enveloped signature.
type DigestAlgorithm struct {
	URI        string
	Name       string
	Hash       crypto.Hash
	Deprecated bool
}

// algorithms is the registry. It is a function, not a package variable, so
// no caller can change it.
func algorithms() []Algorithm {
	return []Algorithm{
		{URI: RSASHA1, Name: "rsa-sha1", Hash: crypto.SHA1, Key: KeyRSA, Deprecated: true},
		{URI: RSASHA256, Name: "rsa-sha256", Hash: crypto.SHA256, Key: KeyRSA},
		{URI: RSASHA384, Name: "rsa-sha384", Hash: crypto.SHA384, Key: KeyRSA},
		{URI: RSASHA512, Name: "rsa-sha512", Hash: crypto.SHA512, Key: KeyRSA},
		{URI: ECDSASHA256, Name: "ecdsa-sha256", Hash: crypto.SHA256, Key: KeyEC},
		{URI: ECDSASHA384, Name: "ecdsa-sha384", Hash: crypto.SHA384, Key: KeyEC},
		{URI: ECDSASHA512, Name: "ecdsa-sha512", Hash: crypto.SHA512, Key: KeyEC},
	}
}

func digestAlgorithms() []DigestAlgorithm {
	return []DigestAlgorithm{
		{URI: DigestSHA1, Name: "sha1", Hash: crypto.SHA1, Deprecated: true},
		{URI: DigestSHA256, Name: "sha256", Hash: crypto.SHA256},
		{URI: DigestSHA384, Name: "sha384", Hash: crypto.SHA384},
		{URI: DigestSHA512, Name: "sha512", Hash: crypto.SHA512},
	}
}

// Algorithms returns the registry, RSA first, in a fresh slice.
func Algorithms() []Algorithm { return algorithms() }

// LookupAlgorithm returns the registered algorithm with the given URI or
// short name ("rsa-sha256"). An empty or unknown value is
// ErrUnknownAlgorithm.
func LookupAlgorithm(uri string) (Algorithm, error) {
	for _, a := range algorithms() {
		if uri == a.URI || uri == a.Name {
			return a, nil
		}
	}
	return Algorithm{}, fmt.Errorf("%w %q: use one of rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 (or their XML-DSig URIs)", ErrUnknownAlgorithm, uri)
}

// LookupDigestAlgorithm returns the registered digest method with the given
// URI or short name ("sha256").
func LookupDigestAlgorithm(uri string) (DigestAlgorithm, error) {
	for _, d := range digestAlgorithms() {
		if uri == d.URI || uri == d.Name {
			return d, nil
		}
	}
	return DigestAlgorithm{}, fmt.Errorf("%w: digest %q: use one of sha256, sha384, sha512 (or their XML-DSig URIs)", ErrUnknownAlgorithm, uri)
}

// DefaultAlgorithm returns the algorithm used when none is configured:
// rsa-sha256 for RSA keys, ecdsa-sha256 for EC keys.
func DefaultAlgorithm(pub crypto.PublicKey) Algorithm {
	uri := RSASHA256
	if _, ok := pub.(*ecdsa.PublicKey); ok {
		uri = ECDSASHA256
	}
	a, _ := LookupAlgorithm(uri)
	return a
}

// CheckKey reports whether pub can sign with a: an RSA key of at least
// MinRSABits for the RSA algorithms, an ECDSA key on P-256, P-384 or P-521
// for the ECDSA ones. A misfit is ErrKeyMismatch.
func (a Algorithm) CheckKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if a.Key != KeyRSA {
			return fmt.Errorf("%w: %s needs an EC key, the key is RSA: choose an rsa-sha* algorithm or an EC key", ErrKeyMismatch, a.Name)
		}
		if bits := k.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("%w: %s: the RSA key has %d bits, at least %d are needed", ErrKeyMismatch, a.Name, bits, MinRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if a.Key != KeyEC {
			return fmt.Errorf("%w: %s needs an RSA key, the key is EC: choose an ecdsa-sha* algorithm or an RSA key", ErrKeyMismatch, a.Name)
		}
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("%w: %s: curve %s is not supported, use P-256, P-384 or P-521", ErrKeyMismatch, a.Name, k.Curve.Params().Name)
	default:
		return fmt.Errorf("%w: %s: key type %T cannot sign XML-DSig", ErrKeyMismatch, a.Name, pub)
	}
}
