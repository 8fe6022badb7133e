// Package keys owns keystore formats (JKS, PKCS#12, PEM, DER; sniffed from
// content, never from a file name), key generation, CSRs, chain import and
// ordering, PEM/DER export, validation and expiry facts, and the KeySet a
// snapshot is built from. It touches neither the store nor the network.
package keys

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Format is a keystore file format, detected from the file's bytes.
type Format string

// The formats Parse recognises.
const (
	FormatJKS    Format = "jks"    // Java KeyStore, magic FE ED FE ED
	FormatPKCS12 Format = "pkcs12" // PFX, a DER SEQUENCE starting with version 3
	FormatPEM    Format = "pem"    // PEM blocks: certificates and/or one private key
	FormatDER    Format = "der"    // one bare DER X.509 certificate
)

// Errors callers branch on. They are wrapped with the file, alias or field.
var (
	ErrUnsupportedFormat  = errors.New("unsupported keystore format")
	ErrWrongStorePassword = errors.New("wrong store password")
	ErrWrongKeyPassword   = errors.New("wrong key password")
	ErrAliasNotFound      = errors.New("alias not found")
	ErrNoPrivateKey       = errors.New("no private-key entry")
	ErrAliasExists        = errors.New("alias already exists")
	ErrReplyKeyMismatch   = errors.New("certificate reply does not match the alias's key")
	ErrReplyNoChain       = errors.New("certificate reply does not chain to certificates in the keystore")
	// ErrDamaged is a keystore file whose structure is cut short or
	// altered: most often an incomplete copy or one made in text mode.
	ErrDamaged = errors.New("the file is truncated or damaged")
)

// damaged wraps err, a structural decoding error of a format's file, with
// ErrDamaged, the likely causes and the fix.
func damaged(format string, err error) error {
	return fmt.Errorf("read %s: %w (%v): it was likely cut short, or copied in text mode (FTP ASCII, a paste, "+
		"CRLF line endings); copy it again in binary mode (scp, sftp, base64) and compare its size and SHA-256 with the original",
		format, ErrDamaged, err)
}

// Entry is one keystore entry: a private-key entry (Key set, Chain leaf
// first) or a trusted-certificate entry (Key nil, Chain holds one
// certificate).
type Entry struct {
	Alias   string
	Created time.Time
	Key     crypto.Signer
	Chain   []*x509.Certificate
	// Sealed marks a private-key entry whose key was left encrypted, as
	// ParseChains returns it: Key is nil, Chain is the key's chain.
	Sealed bool
}

// IsPrivateKey reports whether e is a private-key entry.
func (e *Entry) IsPrivateKey() bool { return e.Key != nil }

// Leaf returns the entry's first certificate, or nil.
func (e *Entry) Leaf() *x509.Certificate {
	if len(e.Chain) == 0 {
		return nil
	}
	return e.Chain[0]
}

// Keystore is a parsed keystore: its detected format and its entries.
type Keystore struct {
	Format  Format
	Entries []*Entry
	// Now stamps the creation time of entries ImportTrusted adds;
	// nil means time.Now.
	Now func() time.Time
}

// Use is what a credential is published for.
type Use string

// The two uses a SAML SP publishes keys for.
const (
	UseSigning    Use = "signing"
	UseEncryption Use = "encryption"
)

// Role is where a credential stands in a rollover.
type Role string

// Roles, in the order metadata lists them.
const (
	RoleCurrent  Role = "current"  // the property points at it: signs / is the preferred encryption key
	RoleNext     Role = "next"     // published before it is used
	RolePrevious Role = "previous" // retired: still published / still decrypts for a grace period
)

// Credential is one private key with its chain, from one certificate record,
// as a snapshot publishes and uses it.
type Credential struct {
	RecordID   string
	RecordName string
	Use        Use
	Role       Role
	Signer     crypto.Signer
	Chain      []*x509.Certificate // leaf first
	// Unpublished: the key is used (an encryption key decrypts) but metadata
	// does not list its certificate, as when a next encryption key replaces
	// the current one in metadata for IdPs that accept only one.
	Unpublished bool
}

// Leaf returns the credential's certificate.
func (c *Credential) Leaf() *x509.Certificate { return c.Chain[0] }

// KeySet is the immutable set of credentials one snapshot serves: signing and
// encryption credentials, each list ordered current first, then next, then
// previous. A KeySet is never modified after it is built.
type KeySet struct {
	Signing    []*Credential
	Encryption []*Credential
}

// Current returns the current credential for use u, or nil.
func (ks *KeySet) Current(u Use) *Credential {
	list := ks.Signing
	if u == UseEncryption {
		list = ks.Encryption
	}
	for _, c := range list {
		if c.Role == RoleCurrent {
			return c
		}
	}
	return nil
}
