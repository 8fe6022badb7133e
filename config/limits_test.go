package config_test

import (
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

func TestIdPAllowsCBC(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []bool
	}{
		{"default true", "", []bool{true, true}},
		{"sp false, idp true", "sp: {allow_cbc: false}\n", []bool{true, false}},
		{"sp true, idp false", "sp: {allow_cbc: true}\n", []bool{true, false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			allowSHA1 := "\n    allow_sha1: true"
			if fips.Enabled() {
				allowSHA1 = "" // refused in FIPS 140-3 mode (TestFIPSFixtures)
			}
			c, err := config.Parse([]byte(tt.yaml + `
idps:
  - name: a
    entity_id: https://a.example.com/idp
    sso: {binding: redirect, location: https://a.example.com/sso}
    allow_cbc: true` + allowSHA1 + `
  - name: b
    entity_id: https://b.example.com/idp
    sso: {binding: redirect, location: https://b.example.com/sso}
`))
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "sp true, idp false" {
				f := false
				c.IdPs[1].AllowCBC = &f
			}
			for i, want := range tt.want {
				if got := c.IdPAllowsCBC(c.IdPs[i]); got != want {
					t.Errorf("idps[%d]: %v, want %v", i, got, want)
				}
			}
			if c.IdPs[0].AllowSHA1 == fips.Enabled() || c.IdPs[1].AllowSHA1 {
				t.Errorf("allow_sha1 %v %v", c.IdPs[0].AllowSHA1, c.IdPs[1].AllowSHA1)
			}
		})
	}
}

func TestLogoutSwitches(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		name                string
		idp                 config.IdP
		signResponse, wants bool
	}{
		{"defaults", config.IdP{}, false, true},
		{"follows sign_logout_request", config.IdP{SignLogoutRequest: true}, true, true},
		{"sign_logout_response off", config.IdP{SignLogoutRequest: true, SignLogoutResponse: &no}, false, true},
		{"sign_logout_response on", config.IdP{SignLogoutResponse: &yes}, true, true},
		{"want_logout_signed off", config.IdP{WantLogoutSigned: &no}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.idp.SignsLogoutResponse(); got != tt.signResponse {
				t.Errorf("SignsLogoutResponse = %v, want %v", got, tt.signResponse)
			}
			if got := tt.idp.WantsLogoutSigned(); got != tt.wants {
				t.Errorf("WantsLogoutSigned = %v, want %v", got, tt.wants)
			}
		})
	}
}
