// Package pkcs11 owns keys that live in a PKCS#11 token (an HSM, a smart
// card, SoftHSM2): RFC 7512 URIs that name them, opening a module and a
// token with a PIN, finding a key pair by label or id, signing and
// decrypting through the token, generating a key pair inside the token
// (sensitive, not extractable) with a self-signed certificate made by
// signing through it, and listing a module's tokens and objects.
//
// A Key is a crypto.Signer; an RSA Key's Signer is also a crypto.Decrypter,
// so the rest of samlkeyd uses a token key wherever it uses a keystore key.
// The private key never leaves the token.
//
// The package needs cgo (the module is a C shared library); built without
// cgo, every function returns ErrNoCgo.
package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// Errors callers branch on; they are wrapped with the URI, never the PIN.
var (
	ErrNoCgo          = errors.New("samlkeyd was built without cgo: PKCS#11 tokens need a cgo build")
	ErrModule         = errors.New("cannot load PKCS#11 module")
	ErrTokenNotFound  = errors.New("no token matches the URI")
	ErrWrongPIN       = errors.New("wrong PIN")
	ErrPINLocked      = errors.New("PIN locked")
	ErrKeyNotFound    = errors.New("no key pair matches the URI")
	ErrTokenGone      = errors.New("token not present or session lost: reconnect when it is back")
	ErrObjectExists   = errors.New("an object with this label already exists on the token")
	ErrUnsupportedOpt = errors.New("operation not supported through PKCS#11")
	ErrChainMismatch  = errors.New("certificate does not match the token key")
)

// Options open a key in a token.
type Options struct {
	Module string       // path of the PKCS#11 library (config pkcs11.module)
	URI    URI          // token and object (object= and/or id=)
	PIN    secret.Value // the token's user PIN
	// Chain, when set, is the key's certificate chain, leaf first (a CA
	// reply stored with the record); when nil the leaf is read from the
	// token: the CKO_CERTIFICATE with the key's id and label.
	Chain []*x509.Certificate
	// MaxSessions bounds the sessions pooled for concurrent operations
	// (default 16, at least 2: one is held to keep the login alive).
	MaxSessions int
	// PoolWait bounds how long an operation waits for a free session
	// (default 10s).
	PoolWait time.Duration
}

// DefaultMaxSessions is the session pool size when Options.MaxSessions is 0.
const DefaultMaxSessions = 16

// Key is a private key in a token, with its certificate chain. It is safe
// for concurrent use: operations share a pool of sessions. After the token
// went away, Reconnect opens it again.
type Key struct {
	opts Options
	mu   sync.RWMutex
	h    *handle // nil after Close or a failed Reconnect; guarded by mu
	// pub and chain (leaf first) are set by Open and never change.
	pub   crypto.PublicKey
	chain []*x509.Certificate
}

// Interface guards: a Key signs; an RSA Key's Signer also decrypts.
var (
	_ crypto.Signer    = (*Key)(nil)
	_ crypto.Decrypter = rsaKey{}
)

// Open opens the token named by o.URI in o.Module, logs in with o.PIN and
// finds the key pair the URI's object and/or id name.
func Open(o Options) (*Key, error) {
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
	}
	if o.PoolWait == 0 {
		o.PoolWait = 10 * time.Second
	}
	if o.URI.Object == "" && len(o.URI.ID) == 0 {
		return nil, fmt.Errorf("open %s: the URI names no key: add object=LABEL or id=%%XX: %w", o.URI, ErrKeyNotFound)
	}
	h, chain, err := openKey(o)
	if err != nil {
		return nil, err
	}
	return &Key{opts: o, h: h, pub: h.public(), chain: chain}, nil
}

// openKey opens the key and settles its chain: o.Chain, or the token's
// certificate; either must hold the key's public key.
func openKey(o Options) (*handle, []*x509.Certificate, error) {
	h, tokenCert, err := openHandle(o)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", o.URI, err)
	}
	chain := o.Chain
	if chain == nil && tokenCert != nil {
		chain = []*x509.Certificate{tokenCert}
	}
	if len(chain) == 0 {
		h.close()
		return nil, nil, fmt.Errorf("open %s: the token holds no certificate with the key's id and label: give the chain with the record, or import the certificate into the token", o.URI)
	}
	if !publicKeysEqual(chain[0].PublicKey, h.public()) {
		h.close()
		return nil, nil, fmt.Errorf("open %s: leaf %q: %w", o.URI, chain[0].Subject, ErrChainMismatch)
	}
	return h, chain, nil
}

// URI returns the key's URI (it never holds the PIN).
func (k *Key) URI() URI { return k.opts.URI }

// Chain returns the key's certificate chain, leaf first.
func (k *Key) Chain() []*x509.Certificate { return k.chain }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.pub }

// Signer returns k as the crypto.Signer to put in a keys.Credential: for an
// RSA key it is also a crypto.Decrypter, for an EC key it is not (so callers
// that look for a Decrypter see that the key cannot decrypt).
func (k *Key) Signer() crypto.Signer {
	if _, ok := k.pub.(*rsa.PublicKey); ok {
		return rsaKey{k}
	}
	return k
}

// Sign signs digest through the token. opts is mapped explicitly:
// *rsa.PSSOptions sign RSA-PSS (PSSSaltLengthAuto is signed with a salt the
// length of the hash), other options RSA PKCS#1 v1.5 with the DigestInfo of
// opts.HashFunc() (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512); EC keys sign
// ECDSA and return an ASN.1 signature. rand is not used: the token draws
// its own randomness.
func (k *Key) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	mapped, err := signOpts(k.pub, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", k.opts.URI, err)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return nil, fmt.Errorf("sign with %s: %w", k.opts.URI, ErrTokenGone)
	}
	sig, err := k.h.sign(digest, mapped)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", k.opts.URI, err)
	}
	return sig, nil
}

// Check asks the token whether the key is still there: it looks the key
// pair up again through one of the key's sessions. A token removed, a
// session lost or a closed key is an error wrapping ErrTokenGone (or the
// token's code), a token that no longer holds the key ErrKeyNotFound; the
// caller then tries Reconnect.
func (k *Key) Check() error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return fmt.Errorf("check %s: %w", k.opts.URI, ErrTokenGone)
	}
	if err := k.h.check(k.opts.URI); err != nil {
		return fmt.Errorf("check %s: %w", k.opts.URI, err)
	}
	return nil
}

// Reconnect closes the key's sessions and opens the token again, as after
// the token was removed and put back. On failure the key stays closed and
// operations fail with ErrTokenGone until a Reconnect succeeds.
func (k *Key) Reconnect() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h != nil {
		k.h.close()
		k.h = nil
	}
	// The chain and public key stay those of the first Open: a snapshot
	// built on them must not see them change under it.
	h, _, err := openKey(k.opts)
	if err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	if !publicKeysEqual(k.pub, h.public()) {
		h.close()
		return fmt.Errorf("reconnect %s: the key on the token is not the key opened before: %w", k.opts.URI, ErrChainMismatch)
	}
	k.h = h
	return nil
}

// Close logs out and releases the key's sessions. A closed key can be
// opened again with Reconnect.
func (k *Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h != nil {
		k.h.close()
		k.h = nil
	}
	return nil
}

// Delete destroys the key pair and the token's certificate with the key's
// id and label, then closes k. It undoes a Generate whose key was never
// used (a rotation whose record could not be stored); a key some record
// names must never be deleted. The error says which objects may be left.
func (k *Key) Delete() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h == nil {
		return fmt.Errorf("delete %s: %w", k.opts.URI, ErrTokenGone)
	}
	err := k.h.destroy(k.opts.URI)
	k.h.close()
	k.h = nil
	if err != nil {
		return fmt.Errorf("delete %s: %w", k.opts.URI, err)
	}
	return nil
}

// rsaKey is an RSA Key as a crypto.Signer and crypto.Decrypter.
type rsaKey struct{ *Key }

// Decrypt decrypts through the token. opts is mapped explicitly:
//   - nil or *rsa.PKCS1v15DecryptOptions with SessionKeyLen 0: PKCS#1 v1.5
//     (CKM_RSA_PKCS), errors returned;
//   - *rsa.PKCS1v15DecryptOptions with SessionKeyLen n: PKCS#1 v1.5, and on
//     a padding failure or a plaintext that is not n bytes a random n-byte
//     key is returned instead of an error, as crypto/rsa does
//     (Bleichenbacher); a lost token is still an error;
//   - *rsa.OAEPOptions: CKM_RSA_PKCS_OAEP with Hash, MGF1 over MGFHash and
//     Label. crypto11 uses MGF1 over Hash, so MGFHash must be 0 or equal to
//     Hash (rsa-oaep-mgf1p with SHA-1 is); other pairs are refused with
//     ErrUnsupportedOpt. SoftHSM2 itself accepts only SHA-1/MGF1-SHA-1
//     with an empty label.
func (k rsaKey) Decrypt(r io.Reader, ct []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	mapped, err := decryptOpts(opts)
	if err != nil {
		return nil, fmt.Errorf("decrypt with %s: %w", k.opts.URI, err)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return nil, fmt.Errorf("decrypt with %s: %w", k.opts.URI, ErrTokenGone)
	}
	pt, err := k.h.decrypt(r, ct, mapped)
	if err != nil {
		return nil, fmt.Errorf("decrypt with %s: %w", k.opts.URI, err)
	}
	return pt, nil
}

// signOpts checks opts against the key and maps them to what the token
// is asked to do.
func signOpts(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) (crypto.SignerOpts, error) {
	if opts == nil {
		return nil, fmt.Errorf("no signer options: %w", ErrUnsupportedOpt)
	}
	h := opts.HashFunc()
	switch h {
	case crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return nil, fmt.Errorf("hash %v: use SHA-1 or SHA-2: %w", h, ErrUnsupportedOpt)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			o := *pss
			if o.SaltLength == rsa.PSSSaltLengthAuto {
				o.SaltLength = rsa.PSSSaltLengthEqualsHash
			}
			if o.Hash == 0 {
				o.Hash = h
			}
			return &o, nil
		}
		return h, nil
	case *ecdsa.PublicKey:
		if _, ok := opts.(*rsa.PSSOptions); ok {
			return nil, fmt.Errorf("RSA-PSS options for an EC key: %w", ErrUnsupportedOpt)
		}
		return h, nil
	}
	return nil, fmt.Errorf("key type %T: %w", pub, ErrUnsupportedOpt)
}

// decryptOpts maps crypto.DecrypterOpts to the options crypto11 takes;
// the SessionKeyLen of PKCS#1 v1.5 is handled here, not by the token.
func decryptOpts(opts crypto.DecrypterOpts) (decryptMode, error) {
	switch o := opts.(type) {
	case nil:
		return decryptMode{}, nil
	//lint:ignore SA1019 rsa-1_5 key transport is accepted where sp allows it (allow_rsa15), as crypto/rsa does.
	case *rsa.PKCS1v15DecryptOptions:
		if o.SessionKeyLen < 0 {
			return decryptMode{}, fmt.Errorf("session key length %d: %w", o.SessionKeyLen, ErrUnsupportedOpt)
		}
		return decryptMode{sessionKeyLen: o.SessionKeyLen}, nil
	case *rsa.OAEPOptions:
		switch o.Hash {
		case crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512:
		default:
			return decryptMode{}, fmt.Errorf("OAEP hash %v: %w", o.Hash, ErrUnsupportedOpt)
		}
		if o.MGFHash != 0 && o.MGFHash != o.Hash {
			return decryptMode{}, fmt.Errorf("OAEP with digest %v and MGF1-%v (crypto11 uses the digest for MGF1): %w", o.Hash, o.MGFHash, ErrUnsupportedOpt)
		}
		return decryptMode{oaep: &rsa.OAEPOptions{Hash: o.Hash, MGFHash: o.Hash, Label: o.Label}}, nil
	}
	return decryptMode{}, fmt.Errorf("decrypter options %T: %w", opts, ErrUnsupportedOpt)
}

// decryptMode is one decryption as the token does it.
type decryptMode struct {
	oaep          *rsa.OAEPOptions // nil: PKCS#1 v1.5
	sessionKeyLen int              // PKCS#1 v1.5 only: >0 masks padding failures
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && b != nil && ea.Equal(b)
}
