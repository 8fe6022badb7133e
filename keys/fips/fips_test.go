package fips

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
)

func TestAlgorithm(t *testing.T) {
	tests := []struct {
		in      string
		refused bool
		want    string // in the error, with the mode on
	}{
		{"rsa-sha1", true, "rsa-sha1 is refused in FIPS 140-3 mode: SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2): use rsa-sha256"},
		{"http://www.w3.org/2000/09/xmldsig#rsa-sha1", true, "rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode"},
		{"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1", true, "ecdsa-sha1 (http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1) is refused in FIPS 140-3 mode"},
		{"http://www.w3.org/2000/09/xmldsig#dsa-sha1", true, "dsa-sha1 (http://www.w3.org/2000/09/xmldsig#dsa-sha1) is refused in FIPS 140-3 mode: DSA"},
		{"http://www.w3.org/2009/xmldsig11#dsa-sha256", true, "dsa-sha256"},
		{"sha1", true, "sha1 is refused in FIPS 140-3 mode: SHA-1 reference digests"},
		{"http://www.w3.org/2000/09/xmldsig#sha1", true, "use sha256"},
		{"http://www.w3.org/2001/04/xmlenc#tripledes-cbc", true, "tripledes-cbc (http://www.w3.org/2001/04/xmlenc#tripledes-cbc) is refused in FIPS 140-3 mode: Triple-DES"},
		{"http://www.w3.org/2001/04/xmlenc#rsa-1_5", true, "rsa-1_5 (http://www.w3.org/2001/04/xmlenc#rsa-1_5) is refused in FIPS 140-3 mode: RSA PKCS#1 v1.5 key transport"},
		{"rsa-sha256", false, ""},
		{"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", false, ""},
		{"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", false, ""},
		{"http://www.w3.org/2001/04/xmlenc#sha256", false, ""},
		// OAEP with SHA-1 (rsa-oaep-mgf1p) is approved key transport
		// (NIST SP 800-56B Rev. 2): see docs/security.md.
		{"http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p", false, ""},
		{"http://www.w3.org/2009/xmlenc11#rsa-oaep", false, ""},
		{"http://www.w3.org/2001/04/xmlenc#aes128-cbc", false, ""},
		{"http://www.w3.org/2009/xmlenc11#aes256-gcm", false, ""},
		{"", false, ""},
		{"RSA-SHA1", false, ""}, // not a name samlkeyd knows at all
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if err := algorithm(false, tt.in); err != nil {
				t.Errorf("mode off: %v, want nil", err)
			}
			err := algorithm(true, tt.in)
			if !tt.refused {
				if err != nil {
					t.Fatalf("mode on: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("mode on: %v, want ErrRefused containing %q", err, tt.want)
			}
		})
	}
}

func TestSetting(t *testing.T) {
	if err := setting(false, "sp.allow_rsa1_5", "rsa-1_5 key transport"); err != nil {
		t.Errorf("mode off: %v", err)
	}
	err := setting(true, "sp.allow_rsa1_5", "rsa-1_5 key transport")
	want := "rsa-1_5 key transport is refused in FIPS 140-3 mode: remove sp.allow_rsa1_5 (the mode never accepts it)"
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
		t.Errorf("mode on: %v, want %q", err, want)
	}
}

func TestKey(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	big, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		if err := key(on, &big.PublicKey); err != nil {
			t.Errorf("on=%v rsa2048: %v", on, err)
		}
		if err := key(on, &ec.PublicKey); err != nil {
			t.Errorf("on=%v p256: %v", on, err)
		}
	}
	if err := key(false, &small.PublicKey); err != nil {
		t.Errorf("mode off rsa1024: %v", err)
	}
	err = key(true, &small.PublicKey)
	want := "an RSA key of 1024 bits is refused in FIPS 140-3 mode: at least 2048 bits are needed"
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), want) {
		t.Errorf("mode on rsa1024: %v, want %q", err, want)
	}
	if err := rsaKeySize(true, 3072); err != nil {
		t.Errorf("mode on 3072 bits: %v", err)
	}
}
