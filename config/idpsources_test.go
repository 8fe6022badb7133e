package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

// TestIdPSources loads the three kinds of source and checks the defaults.
func TestIdPSources(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	yaml := `idp_sources:
  - {name: fed, aggregate_url: "https://md.example.org/fed.xml", signing_cert: "Fed signer", refresh: 2h, sign_authn_request: true}
  - {name: fed-file, aggregate_file: /etc/samlkeyd/fed.xml, signing_cert: "Fed signer", entity_category: ["http://refeds.org/category/research-and-scholarship"]}
  - {name: mdq, mdq_url: "https://mdq.example.org/", signing_cert: "Fed signer", encrypt_assertion: true}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.LoadOptions{File: path, Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	s := c.IdPSources
	if len(s) != 3 {
		t.Fatalf("idp_sources = %+v", s)
	}
	if s[0].Refresh != 2*time.Hour || !s[0].SignAuthnRequest || s[0].Kind() != "aggregate" {
		t.Errorf("fed = %+v", s[0])
	}
	if s[1].Refresh != config.DefaultSourceRefresh || len(s[1].EntityCategory) != 1 {
		t.Errorf("fed-file = %+v", s[1])
	}
	if s[2].Refresh != 0 || s[2].Kind() != "mdq" || !s[2].EncryptAssertion {
		t.Errorf("mdq = %+v", s[2])
	}
}
