package sp

import (
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// In Go's FIPS 140-3 mode (GODEBUG=fips140=on) sp refuses what the
// keys/fips table lists, wherever it chooses or reads an algorithm:
// configured signature and digest algorithms (New), received signatures
// (redirect, POST, responses), content encryption and key transport
// (decryption), and RSA keys shorter than 2048 bits for signing and
// decryption. allow_sha1 and AllowRSA15 do not lift a refusal in the mode.
// OAEP with SHA-1 (rsa-oaep-mgf1p, the XML Encryption default) stays
// accepted: NIST SP 800-56B Rev. 2 approves RSA-OAEP key transport with
// SHA-1 (docs/security.md says why, and what Go's module reports).

// fipsSignatureRefusal returns the refusal of a received signature's
// SHA-1 SignatureMethod or DigestMethod uri in FIPS 140-3 mode (whatever
// allow_sha1 says), or nil.
func fipsSignatureRefusal(uri string) error {
	if err := fips.Algorithm(uri); err != nil {
		return err
	}
	if fips.Enabled() && sha1Signatures()[uri] {
		return fmt.Errorf("%s %w: SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2): ask the IdP to sign with rsa-sha256", uri, fips.ErrRefused)
	}
	return nil
}
