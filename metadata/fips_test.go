package metadata

import (
	"errors"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
	"github.com/samlkeyd/samlkeyd/sp"
)

// buildRefusedInFIPS reports whether the mode is on, and then that Build
// refused in with keys/fips's refusal naming want: a test whose input
// needs what the mode refuses stops there.
func buildRefusedInFIPS(t *testing.T, in Input, want string) bool {
	t.Helper()
	if !fips.Enabled() {
		return false
	}
	_, err := Build(in)
	if !errors.Is(err, fips.ErrRefused) || !errors.Is(err, ErrSign) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Build in FIPS 140-3 mode: %v, want ErrSign and the refusal naming %q", err, want)
	}
	return true
}

// TestFIPSRefusals: in FIPS 140-3 mode (a GODEBUG=fips140=on subprocess
// in a normal run) the SP metadata is never signed with SHA-1 or an RSA
// key under 2048 bits, and never advertises tripledes-cbc.
func TestFIPSRefusals(t *testing.T) {
	in := fipstest.InMode(t)
	sha1 := testInput(t)
	sha1.SP.Metadata.Signed = true
	sha1.SP.Metadata.SignatureAlgorithm = sp.RSASHA1
	small := testInput(t)
	small.SP.Metadata.Signed = true
	small.Keys.Signing = []*keys.Credential{rsaCred(t, 1024, keys.UseSigning)}
	small.Keys.Signing[0].RecordName = "Old SP key"
	plain := testInput(t)
	plain.EncryptionMethods = sp.EncryptionMethods()
	if !in {
		mustBuild(t, sha1)
		mustBuild(t, small)
		if !strings.Contains(string(mustBuild(t, plain).Metadata()), sp.ContentTripleDESCBC) {
			t.Error("metadata does not list tripledes-cbc with the mode off")
		}
		return
	}
	buildRefusedInFIPS(t, sha1, `signing record "test rsa-signing": sp.metadata.signature_algorithm: rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode`)
	buildRefusedInFIPS(t, small, `signing record "Old SP key": an RSA key of 1024 bits is refused in FIPS 140-3 mode`)
	md := string(mustBuild(t, plain).Metadata())
	if strings.Contains(md, sp.ContentTripleDESCBC) || !strings.Contains(md, sp.KeyTransportRSAOAEPMGF1P) {
		t.Errorf("metadata in FIPS 140-3 mode lists tripledes-cbc or lacks rsa-oaep-mgf1p:\n%s", md)
	}
	for _, s := range signingMethods() {
		if fips.Algorithm(s.URI) != nil {
			t.Errorf("alg:SigningMethod %s is refused in the mode", s.URI)
		}
	}
	for _, d := range digestMethods() {
		if fips.Algorithm(d) != nil {
			t.Errorf("alg:DigestMethod %s is refused in the mode", d)
		}
	}
}
