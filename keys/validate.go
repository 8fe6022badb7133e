package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"
)

// Report is the outcome of Validate.
type Report struct {
	Problems []string // each makes the keystore invalid
	Warnings []string // weak but usable: short RSA keys, SHA-1 signatures
}

// Valid reports whether no problem was found.
func (r Report) Valid() bool { return len(r.Problems) == 0 }

// Validate checks a keystore the way the reference's "Validate
// Stores/Certificates" does and more: it has a private-key entry; each
// private key matches its leaf; each chain is ordered leaf first with every
// link verifying and ends at a self-signed root (in the chain or trusted in
// the keystore); no certificate is expired or not yet valid at now.
// RSA keys under 2048 bits and SHA-1 certificate signatures are warnings.
func Validate(ks *Keystore, now time.Time) Report {
	var r Report
	problem := func(f string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(f, a...)) }
	warn := func(f string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(f, a...)) }

	var trusted []*x509.Certificate
	privates := 0
	for _, e := range ks.Entries {
		if !e.IsPrivateKey() && !e.Sealed && len(e.Chain) == 1 {
			trusted = append(trusted, e.Chain[0])
		}
	}
	for _, e := range ks.Entries {
		if e.Sealed {
			problem("alias %q: private key not opened (read with ParseChains); validate needs the key password", e.Alias)
			continue
		}
		if len(e.Chain) == 0 {
			problem("alias %q: no certificate", e.Alias)
			continue
		}
		for i, c := range e.Chain {
			where := fmt.Sprintf("alias %q certificate %d (%s)", e.Alias, i+1, c.Subject)
			if now.After(c.NotAfter) {
				if e.IsPrivateKey() {
					problem("%s: expired on %s", where, c.NotAfter.UTC().Format(time.RFC3339))
				} else {
					warn("%s: trusted certificate expired on %s", where, c.NotAfter.UTC().Format(time.RFC3339))
				}
			} else if now.Before(c.NotBefore) {
				problem("%s: not valid before %s", where, c.NotBefore.UTC().Format(time.RFC3339))
			}
			if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
				warn("%s: RSA key of %d bits, use 2048 or more", where, k.N.BitLen())
			}
			// A root's self-signature is not checked by peers; any other
			// SHA-1 signature, including a self-signed leaf's, is weak.
			if weakSignature(c.SignatureAlgorithm) && !(i > 0 && isSelfIssued(c)) {
				warn("%s: signed with %s, ask the CA for SHA-256 or stronger", where, c.SignatureAlgorithm)
			}
		}
		if !e.IsPrivateKey() {
			continue
		}
		privates++
		if !publicKeysEqual(e.Leaf().PublicKey, e.Key.Public()) {
			problem("alias %q: the private key does not match the certificate's public key", e.Alias)
		}
		for i := 0; i+1 < len(e.Chain); i++ {
			if err := e.Chain[i].CheckSignatureFrom(e.Chain[i+1]); err != nil {
				problem("alias %q: chain out of order or broken: certificate %d (%s) is not signed by certificate %d (%s): %v",
					e.Alias, i+1, e.Chain[i].Subject, i+2, e.Chain[i+1].Subject, err)
			}
		}
		last := e.Chain[len(e.Chain)-1]
		switch {
		case isSelfIssued(last):
			if err := checkSelfSigned(last); err != nil {
				problem("alias %q: self-signed certificate %s does not verify: %v", e.Alias, last.Subject, err)
			}
		default:
			ok := false
			for _, t := range trusted {
				if last.CheckSignatureFrom(t) == nil {
					ok = true
					break
				}
			}
			if !ok {
				problem("alias %q: chain incomplete: issuer %s of %s is neither in the chain nor a trusted entry", e.Alias, last.Issuer, last.Subject)
			}
		}
	}
	if privates == 0 {
		problem("no private-key entry: a key_store needs one (keystore generate, or import a PKCS#12)")
	}
	return r
}

func weakSignature(a x509.SignatureAlgorithm) bool {
	switch a {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
		return true
	}
	return false
}

// checkSelfSigned verifies a self-issued certificate's signature with its
// own key. Unlike CheckSignatureFrom it does not ask for a CA: keytool's
// self-signed leaf certificates are not CA certificates.
func checkSelfSigned(c *x509.Certificate) error {
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
}

// ValidateTrustStore checks a keystore that holds only trusted certificates
// (a trust_store_cert record, a PEM file of certificates): at least one
// certificate, no private key, none expired or not yet valid at now, and a
// self-signed certificate's signature verifies with its own key (one that
// is not self-signed is checked against its issuer by whoever trusts it).
// RSA keys under 2048 bits and SHA-1 signatures other than a root's are
// warnings.
func ValidateTrustStore(ks *Keystore, now time.Time) Report {
	var r Report
	problem := func(f string, a ...any) { r.Problems = append(r.Problems, fmt.Sprintf(f, a...)) }
	warn := func(f string, a ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(f, a...)) }
	n := 0
	for _, e := range ks.Entries {
		if e.IsPrivateKey() || e.Sealed {
			problem("alias %q holds a private key: a trust store holds certificates only", e.Alias)
		}
		for _, c := range e.Chain {
			n++
			where := fmt.Sprintf("alias %q (%s)", e.Alias, c.Subject)
			switch {
			case now.After(c.NotAfter):
				problem("%s: expired on %s", where, c.NotAfter.UTC().Format(time.RFC3339))
			case now.Before(c.NotBefore):
				problem("%s: not valid before %s", where, c.NotBefore.UTC().Format(time.RFC3339))
			}
			if isSelfIssued(c) {
				if err := checkSelfSigned(c); err != nil {
					problem("%s: self-signed certificate does not verify: %v", where, err)
				}
			}
			if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
				warn("%s: RSA key of %d bits, use 2048 or more", where, k.N.BitLen())
			}
			if weakSignature(c.SignatureAlgorithm) && !isSelfIssued(c) {
				warn("%s: signed with %s, ask the CA for SHA-256 or stronger", where, c.SignatureAlgorithm)
			}
		}
	}
	if n == 0 {
		problem("no certificate")
	}
	return r
}

// DescribeCertificate says what a certificate is, as `cert validate` of a
// trusted certificate prints it: "CN=Partner root: self-signed, 2048-bit
// RSA key, SHA256-RSA, valid 2026-01-01T00:00:00Z to 2036-01-01T00:00:00Z".
func DescribeCertificate(c *x509.Certificate) string {
	issued := "issued by " + c.Issuer.String()
	if isSelfIssued(c) {
		issued = "self-signed"
	}
	return fmt.Sprintf("%s: %s, %s, %s, valid %s to %s", c.Subject, issued, KeyDescription(c.PublicKey),
		c.SignatureAlgorithm, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
}

// KeyDescription describes a public key: "2048-bit RSA key", "256-bit EC
// (P-256) key".
func KeyDescription(pub any) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("%d-bit RSA key", k.N.BitLen())
	case *ecdsa.PublicKey:
		return fmt.Sprintf("%d-bit EC (%s) key", k.Curve.Params().BitSize, k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "Ed25519 key"
	}
	return fmt.Sprintf("%T key", pub)
}
