package config_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
)

// fipsFixtures are the good fixtures Go's FIPS 140-3 mode refuses, with
// the exact problems Load must report in the mode.
func fipsFixtures() map[string][]string {
	return map[string][]string{
		"fips-refused.yaml": {
			`sp.allow_rsa1_5: rsa-1_5 key transport is refused in FIPS 140-3 mode: remove sp.allow_rsa1_5 (the mode never accepts it)`,
			`idps[0].allow_sha1: SHA-1 in the IdP's signatures (rsa-sha1, sha1 digests) is refused in FIPS 140-3 mode: remove idps[0].allow_sha1 (the mode never accepts it)`,
			`idp_sources[0].signature_algorithm: rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode: SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2): use rsa-sha256`,
			`idp_sources[0].allow_sha1: SHA-1 in the federation's metadata signature (rsa-sha1, sha1 digests) is refused in FIPS 140-3 mode: remove idp_sources[0].allow_sha1 (the mode never accepts it)`,
			`rotation.signing.key_size: an RSA key of 1024 bits is refused in FIPS 140-3 mode: at least 2048 bits are needed (NIST SP 800-131A Rev. 2): use 2048, 3072 or 4096`,
		},
		"rsa-sha1-explicit.yaml": {
			`sp.metadata.signature_algorithm: rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode: SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2): use rsa-sha256`,
			`idps[0].signature_algorithm: rsa-sha1 is refused in FIPS 140-3 mode: SHA-1 signatures are not approved (NIST SP 800-131A Rev. 2): use rsa-sha256`,
			`idps[0].digest_algorithm: sha1 is refused in FIPS 140-3 mode: SHA-1 reference digests in signatures are not approved (NIST SP 800-131A Rev. 2): use sha256`,
		},
	}
}

// TestFIPSFixtures: in FIPS 140-3 mode (a GODEBUG=fips140=on subprocess in
// a normal run) each fixture of fipsFixtures fails to load with exactly
// its problems, each wrapping fips.ErrRefused; with the mode off
// TestGoodFixtures loads them.
func TestFIPSFixtures(t *testing.T) {
	if !fipstest.InMode(t) {
		return
	}
	for file, problems := range fipsFixtures() {
		t.Run(strings.TrimSuffix(file, ".yaml"), func(t *testing.T) {
			path := filepath.Join("testdata", "good", file)
			c, err := config.Load(config.LoadOptions{File: path, Env: noEnv})
			if c != nil || err == nil {
				t.Fatalf("Load(%s) = %v, want an error", path, err)
			}
			want := `load config "` + path + `": ` + strings.Join(problems, "\n")
			if err.Error() != want {
				t.Errorf("Load(%s) error:\n%s\nwant:\n%s", path, err, want)
			}
			for _, p := range config.Problems(err) {
				if !errors.Is(p, fips.ErrRefused) {
					t.Errorf("problem %v does not wrap fips.ErrRefused", p)
				}
			}
		})
	}
	if _, err := config.Load(config.LoadOptions{Env: noEnv}); err != nil {
		t.Errorf("the embedded defaults do not load in FIPS 140-3 mode: %v", err)
	}
}
