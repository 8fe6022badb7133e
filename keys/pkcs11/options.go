package pkcs11

import (
	"crypto/x509"
	"io"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// GenerateOptions describe a key pair to make inside a token and its
// self-signed certificate. Options.URI names the token (its object
// attributes are ignored); Label and ID name the new objects.
type GenerateOptions struct {
	Options
	Label        string // CKA_LABEL of the key pair and the certificate
	ID           []byte // CKA_ID; nil: 16 random bytes
	KeyType      string // "rsa" (default) or "ec"
	KeySize      int    // RSA: 2048 (default), 3072, 4096; EC: 256 (default), 384
	DName        string // "CN=sp.example.com,O=Example,C=US"
	ValidityDays int    // default 90, as keytool
	Rand         io.Reader
	Now          func() time.Time
}

// ListOptions select what List reads. Without a PIN only the tokens are
// listed; with one, List logs into the token (Token names it when the
// module has more than one) and lists its key pairs and certificates.
type ListOptions struct {
	Token string
	PIN   secret.Value
}

// TokenInfo is one token a module shows.
type TokenInfo struct {
	Slot         uint
	Label        string
	Manufacturer string
	Model        string
	Serial       string
	// Listed reports whether the objects below were read (a PIN was given
	// for this token).
	Listed bool
	Keys   []KeyInfo
	Certs  []CertInfo
}

// URI returns the URI that names the token.
func (t TokenInfo) URI() URI { return URI{Token: t.Label} }

// KeyInfo is one private key object and its flags.
type KeyInfo struct {
	Label            string
	ID               []byte
	Type             string // "RSA", "EC" or "other"
	Bits             int
	Sensitive        bool
	Extractable      bool
	AlwaysSensitive  bool
	NeverExtractable bool
	Sign, Decrypt    bool
	// Certs are the certificates on the token with the key's id.
	Certs []CertInfo
}

// CertInfo is one certificate object.
type CertInfo struct {
	Label string
	ID    []byte
	Cert  *x509.Certificate // nil when the value does not parse
}
