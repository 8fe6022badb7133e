package config

import (
	"fmt"
	"strings"

	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// fips reports, in Go's FIPS 140-3 mode (GODEBUG=fips140=on), every
// setting that asks for what samlkeyd refuses in that mode (the keys/fips
// table), so a daemon started in the mode fails at load time with the key
// to change instead of at the first request. With the mode off it finds
// nothing.
func (p *problems) fips(c *Config) {
	if !fips.Enabled() {
		return
	}
	p.fipsAlgorithm("sp.metadata.signature_algorithm", c.SP.Metadata.SignatureAlgorithm)
	if c.SP.AllowRSA15 {
		p.fipsSetting("sp.allow_rsa1_5", "rsa-1_5 key transport")
	}
	for i, idp := range c.IdPs {
		f := fmt.Sprintf("idps[%d]", i)
		p.fipsAlgorithm(f+".signature_algorithm", idp.SignatureAlgorithm)
		p.fipsAlgorithm(f+".digest_algorithm", idp.DigestAlgorithm)
		if idp.AllowSHA1 {
			p.fipsSetting(f+".allow_sha1", "SHA-1 in the IdP's signatures (rsa-sha1, sha1 digests)")
		}
	}
	for i, s := range c.IdPSources {
		f := fmt.Sprintf("idp_sources[%d]", i)
		p.fipsAlgorithm(f+".signature_algorithm", s.SignatureAlgorithm)
		if s.AllowSHA1 {
			p.fipsSetting(f+".allow_sha1", "SHA-1 in the federation's metadata signature (rsa-sha1, sha1 digests)")
		}
	}
	for _, rot := range []struct {
		field string
		r     *RotationPolicy
	}{{"rotation.signing", c.Rotation.Signing}, {"rotation.encryption", c.Rotation.Encryption}} {
		field, r := rot.field, rot.r
		if r == nil || r.KeySize <= 0 || (r.KeyAlg != "" && !strings.EqualFold(r.KeyAlg, "rsa")) {
			continue
		}
		if err := fips.RSAKeySize(r.KeySize); err != nil {
			*p = append(*p, &FieldError{Field: field + ".key_size", Err: fmt.Errorf("%w: use 2048, 3072 or 4096", err)})
		}
	}
}

func (p *problems) fipsAlgorithm(field, s string) {
	if s == "" {
		return
	}
	if err := fips.Algorithm(s); err != nil {
		*p = append(*p, &FieldError{Field: field, Err: err})
	}
}

func (p *problems) fipsSetting(field, enables string) {
	if err := fips.Setting(field, enables); err != nil {
		*p = append(*p, &FieldError{Field: field, Err: err})
	}
}
