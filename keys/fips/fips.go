// Package fips is samlkeyd's policy for Go's FIPS 140-3 mode
// (GODEBUG=fips140=on): the one table of the algorithms and key sizes
// samlkeyd refuses while the mode is on, and the checks the packages that
// choose algorithms (sp, metadata, config, keys) call.
//
// In fips140=on Go's cryptographic module only reports non-approved use
// (its service indicator); it refuses nothing unless fips140=only. samlkeyd
// refuses on its own, before any key is used, with an error that names the
// algorithm and says "FIPS 140-3 mode". With the mode off every check here
// returns nil.
package fips

import (
	"crypto"
	//lint:ignore SA1019 only to recognise DSA keys (x509 still parses them) and refuse them.
	"crypto/dsa"
	"crypto/fips140"
	"crypto/rsa"
	"errors"
	"fmt"
)

// ErrRefused is wrapped by every refusal of the policy.
var ErrRefused = errors.New("is refused in FIPS 140-3 mode")

// MinRSABits is the smallest RSA modulus samlkeyd uses in FIPS 140-3 mode
// (NIST SP 800-131A Rev. 2: 2048 bits, 112-bit security strength).
const MinRSABits = 2048

// Enabled reports whether Go's FIPS 140-3 mode is on (GODEBUG=fips140=on
// or fips140=only), as crypto/fips140.Enabled.
func Enabled() bool { return fips140.Enabled() }

// Rule is one algorithm samlkeyd refuses in FIPS 140-3 mode: its short
// name, the URIs SAML carries it as, why it is refused and what to use.
type Rule struct {
	Name string
	URIs []string
	Why  string
	Fix  string
}

// Rules returns the policy table in a fresh slice. It lists what the
// registries of sp accept (or used to accept) outside FIPS mode; anything
// they never accept is refused as unknown in both modes.
func Rules() []Rule {
	return []Rule{
		{"rsa-sha1", []string{"http://www.w3.org/2000/09/xmldsig#rsa-sha1"},
			"SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2)", "use rsa-sha256"},
		{"ecdsa-sha1", []string{"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1"},
			"SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2)", "use ecdsa-sha256"},
		{"dsa-sha1", []string{"http://www.w3.org/2000/09/xmldsig#dsa-sha1"},
			"DSA signing is not approved (FIPS 186-5)", "use rsa-sha256 or ecdsa-sha256"},
		{"dsa-sha256", []string{"http://www.w3.org/2009/xmldsig11#dsa-sha256"},
			"DSA signing is not approved (FIPS 186-5)", "use rsa-sha256 or ecdsa-sha256"},
		{"sha1", []string{"http://www.w3.org/2000/09/xmldsig#sha1"},
			"SHA-1 reference digests in signatures are not approved (NIST SP 800-131A Rev. 2)", "use sha256"},
		{"tripledes-cbc", []string{"http://www.w3.org/2001/04/xmlenc#tripledes-cbc"},
			"Triple-DES encryption is not approved after 2023 (NIST SP 800-131A Rev. 2)", "ask the IdP to encrypt with aes256-gcm or aes128-cbc"},
		{"rsa-1_5", []string{"http://www.w3.org/2001/04/xmlenc#rsa-1_5"},
			"RSA PKCS#1 v1.5 key transport is not approved after 2023 (NIST SP 800-131A Rev. 2)", "ask the IdP to use rsa-oaep or rsa-oaep-mgf1p"},
		// Writing a keystore: JKS's key protection. Reading one (and a
		// legacy PKCS#12 file) stays allowed: see docs/security.md.
		{"jks", nil,
			"writing JKS protects the private key with a SHA-1 keystream and no approved algorithm",
			"write PKCS#12 (PBES2: PBKDF2-HMAC-SHA-256 and AES-256-CBC, HMAC-SHA-256 MAC)"},
	}
}

// Algorithm returns nil, or, in FIPS 140-3 mode, an error wrapping
// ErrRefused when nameOrURI (a short name such as "rsa-sha1" or its URI)
// is in the table.
func Algorithm(nameOrURI string) error { return algorithm(Enabled(), nameOrURI) }

func algorithm(on bool, s string) error {
	if !on {
		return nil
	}
	for _, r := range Rules() {
		if s == r.Name {
			return r.err("")
		}
		for _, u := range r.URIs {
			if s == u {
				return r.err(u)
			}
		}
	}
	return nil
}

func (r Rule) err(uri string) error {
	name := r.Name
	if uri != "" {
		name = fmt.Sprintf("%s (%s)", r.Name, uri)
	}
	return fmt.Errorf("%s %w: %s: %s", name, ErrRefused, r.Why, r.Fix)
}

// Setting returns nil, or, in FIPS 140-3 mode, an error wrapping
// ErrRefused for a switch that turns on what the table refuses (used by
// config validation: allow_sha1, allow_rsa1_5).
func Setting(name, enables string) error { return setting(Enabled(), name, enables) }

func setting(on bool, name, enables string) error {
	if !on {
		return nil
	}
	return fmt.Errorf("%s %w: remove %s (the mode never accepts it)", enables, ErrRefused, name)
}

// RSAKeySize returns nil, or, in FIPS 140-3 mode, an error wrapping
// ErrRefused for an RSA modulus shorter than MinRSABits.
func RSAKeySize(bits int) error { return rsaKeySize(Enabled(), bits) }

func rsaKeySize(on bool, bits int) error {
	if on && bits < MinRSABits {
		return fmt.Errorf("an RSA key of %d bits %w: at least %d bits are needed (NIST SP 800-131A Rev. 2)", bits, ErrRefused, MinRSABits)
	}
	return nil
}

// Key returns nil, or, in FIPS 140-3 mode, an error wrapping ErrRefused for
// a key samlkeyd does not use in the mode: an RSA key shorter than
// MinRSABits or a DSA key. EC keys are left to the callers, which accept
// only the approved curves P-256, P-384 and P-521 in both modes.
func Key(pub crypto.PublicKey) error { return key(Enabled(), pub) }

func key(on bool, pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if err := rsaKeySize(on, k.N.BitLen()); err != nil {
			return fmt.Errorf("%w: replace it with a key of 2048 bits or more", err)
		}
	case *dsa.PublicKey:
		if on {
			return fmt.Errorf("a DSA key %w: DSA signing is not approved (FIPS 186-5): use an RSA or EC key", ErrRefused)
		}
	}
	return nil
}
