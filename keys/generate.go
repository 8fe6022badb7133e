package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// GenerateOptions describe a key pair and its self-signed certificate, as
// keytool -genkeypair takes them.
type GenerateOptions struct {
	Alias        string
	KeyAlg       string // "RSA" (default) or "EC"
	KeySize      int    // RSA: 2048 (default), 3072, 4096; EC: 256 (default), 384
	ValidityDays int    // default 90, as keytool
	DName        string // "CN=sp.example.com,O=Example,C=US"
	Rand         io.Reader
	Now          func() time.Time
}

// Generate makes a key pair and a self-signed certificate signed with
// SHA-256 (RSA, EC P-256) or SHA-384 (EC P-384), returned as a private-key
// entry.
func Generate(o GenerateOptions) (*Entry, error) {
	if o.Alias == "" {
		return nil, errors.New("generate key pair: alias is empty")
	}
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	var key crypto.Signer
	var err error
	switch strings.ToUpper(o.KeyAlg) {
	case "", "RSA":
		size := o.KeySize
		if size == 0 {
			size = 2048
		}
		if size != 2048 && size != 3072 && size != 4096 {
			return nil, fmt.Errorf("generate key pair %q: RSA key size %d: use 2048, 3072 or 4096", o.Alias, size)
		}
		key, err = rsa.GenerateKey(r, size)
	case "EC":
		var curve elliptic.Curve
		switch o.KeySize {
		case 0, 256:
			curve = elliptic.P256()
		case 384:
			curve = elliptic.P384()
		default:
			return nil, fmt.Errorf("generate key pair %q: EC key size %d: use 256 or 384", o.Alias, o.KeySize)
		}
		key, err = ecdsa.GenerateKey(curve, r)
	default:
		return nil, fmt.Errorf("generate key pair %q: key algorithm %q: use RSA or EC", o.Alias, o.KeyAlg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: %w", o.Alias, err)
	}
	cert, err := SelfSign(key, o)
	if err != nil {
		return nil, err
	}
	return &Entry{Alias: o.Alias, Created: cert.NotBefore, Key: key, Chain: []*x509.Certificate{cert}}, nil
}

// SelfSign makes the self-signed certificate Generate issues for key, with
// o's DName, ValidityDays, Rand and Now, signed by key with SHA-256 (RSA, EC
// P-256) or SHA-384 (EC P-384). key may live anywhere a crypto.Signer
// reaches, such as a PKCS#11 token.
func SelfSign(key crypto.Signer, o GenerateOptions) (*x509.Certificate, error) {
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	days := o.ValidityDays
	if days == 0 {
		days = 90
	}
	if days < 0 {
		return nil, fmt.Errorf("generate key pair %q: validity %d days: must be positive", o.Alias, days)
	}
	subject, err := ParseDName(o.DName)
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: %w", o.Alias, err)
	}
	sigAlg := signatureAlgorithm(key.Public())
	if sigAlg == x509.UnknownSignatureAlgorithm {
		return nil, fmt.Errorf("generate key pair %q: %T keys are not supported: use RSA or EC", o.Alias, key.Public())
	}
	serial, err := randomSerial(r)
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: %w", o.Alias, err)
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: %w", o.Alias, err)
	}
	start := now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            subject,
		Issuer:             subject,
		NotBefore:          start,
		NotAfter:           start.Add(time.Duration(days) * 24 * time.Hour),
		SignatureAlgorithm: sigAlg,
		SubjectKeyId:       skid,
		// keytool's self-signed certificates carry only a subject key id; the
		// key usages below match what a SAML signing/encryption and mTLS
		// client key needs.
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(r, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: self-sign: %w", o.Alias, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("generate key pair %q: %w", o.Alias, err)
	}
	return cert, nil
}

// KeystoreOptions describe a fresh one-entry keystore: the key pair and its
// self-signed certificate (GenerateOptions, whose Rand also draws a random
// password), the file format and the passwords.
type KeystoreOptions struct {
	GenerateOptions
	Format        Format       // FormatJKS or FormatPKCS12
	StorePassword secret.Value // empty: a random one (RandomPassword)
	KeyPassword   secret.Value // empty: the store password
}

// GeneratedKeystore is a keystore GenerateKeystore made: its entry, the
// file's bytes and the passwords that open it.
type GeneratedKeystore struct {
	Entry         *Entry
	Data          []byte
	StorePassword secret.Value
	KeyPassword   secret.Value
}

// GenerateKeystore makes a key pair with Generate and marshals it as the
// only entry of a keystore in o.Format. All randomness (key, serial,
// signature, password) comes from o.Rand, nil meaning crypto/rand.
func GenerateKeystore(o KeystoreOptions) (*GeneratedKeystore, error) {
	if o.Format != FormatJKS && o.Format != FormatPKCS12 {
		return nil, fmt.Errorf("generate keystore %q: format %q cannot be written, use jks or pkcs12: %w", o.Alias, o.Format, ErrUnsupportedFormat)
	}
	e, err := Generate(o.GenerateOptions)
	if err != nil {
		return nil, err
	}
	storePass, keyPass := o.StorePassword, o.KeyPassword
	if storePass.Empty() {
		if storePass, err = RandomPassword(o.Rand); err != nil {
			return nil, fmt.Errorf("generate keystore %q: %w", o.Alias, err)
		}
	}
	if keyPass.Empty() {
		keyPass = storePass
	}
	data, err := (&Keystore{Format: o.Format, Entries: []*Entry{e}}).Marshal(storePass, keyPass)
	if err != nil {
		return nil, fmt.Errorf("generate keystore %q: %w", o.Alias, err)
	}
	return &GeneratedKeystore{Entry: e, Data: data, StorePassword: storePass, KeyPassword: keyPass}, nil
}

// RandomPassword returns 24 bytes from r (nil: crypto/rand) as URL-safe
// base64: 32 characters, 192 bits.
func RandomPassword(r io.Reader) (secret.Value, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 24)
	defer clear(b)
	if _, err := io.ReadFull(r, b); err != nil {
		return secret.Value{}, fmt.Errorf("random password: %w", err)
	}
	enc := []byte(base64.RawURLEncoding.EncodeToString(b))
	defer clear(enc)
	return secret.New(enc), nil
}

// randomSerial returns a positive 63-bit serial number, as keytool uses.
func randomSerial(r io.Reader) (*big.Int, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	b[0] &= 0x7f
	n := new(big.Int).SetBytes(b[:])
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n, nil
}

// subjectKeyID is the SHA-1 of the subject public key bits (RFC 5280
// 4.2.1.2 method 1), as keytool computes it.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	return sha1Sum(spki.PublicKey.Bytes), nil
}
