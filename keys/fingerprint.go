package keys

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// Fingerprint is a certificate fingerprint: a digest of its DER encoding.
// Records, file names and URLs use the Hex form; keytool and the
// certificate index show the Colon form.
type Fingerprint []byte

// SHA256Fingerprint returns the SHA-256 fingerprint of c.
func SHA256Fingerprint(c *x509.Certificate) Fingerprint {
	sum := sha256.Sum256(c.Raw)
	return sum[:]
}

// SHA1Fingerprint returns the SHA-1 fingerprint of c, which keytool and
// some IdP consoles still show.
func SHA1Fingerprint(c *x509.Certificate) Fingerprint {
	sum := sha1.Sum(c.Raw)
	return sum[:]
}

// Hex returns lower-case hex without separators: "ab12…".
func (f Fingerprint) Hex() string { return hex.EncodeToString(f) }

// Colon returns upper-case hex bytes separated by colons, as keytool
// prints them: "AB:12:…".
func (f Fingerprint) Colon() string {
	if len(f) == 0 {
		return ""
	}
	h := strings.ToUpper(hex.EncodeToString(f))
	var b strings.Builder
	b.Grow(len(h) + len(f) - 1)
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// String returns the Hex form.
func (f Fingerprint) String() string { return f.Hex() }
