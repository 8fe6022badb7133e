package fips_test

import (
	"crypto/fips140"
	"errors"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
)

// TestMode checks the exported checks against the real mode: in a normal
// run nothing is refused and the same test runs again with
// GODEBUG=fips140=on, where the table applies.
func TestMode(t *testing.T) {
	if fips.Enabled() != fips140.Enabled() {
		t.Fatalf("Enabled = %v, crypto/fips140.Enabled = %v", fips.Enabled(), fips140.Enabled())
	}
	checks := []error{
		fips.Algorithm("http://www.w3.org/2000/09/xmldsig#rsa-sha1"),
		fips.Algorithm("http://www.w3.org/2001/04/xmlenc#tripledes-cbc"),
		fips.Algorithm("http://www.w3.org/2001/04/xmlenc#rsa-1_5"),
		fips.Setting("sp.allow_rsa1_5", "rsa-1_5 key transport"),
		fips.RSAKeySize(1024),
	}
	if !fipstest.InMode(t) {
		for i, err := range checks {
			if err != nil {
				t.Errorf("check %d with the mode off: %v", i, err)
			}
		}
		return
	}
	for i, err := range checks {
		if !errors.Is(err, fips.ErrRefused) {
			t.Errorf("check %d in FIPS 140-3 mode: %v, want ErrRefused", i, err)
		}
	}
	if err := fips.Algorithm("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"); err != nil {
		t.Errorf("rsa-sha256 in FIPS 140-3 mode: %v", err)
	}
}
