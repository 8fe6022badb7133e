package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/metadata"
)

// federationConfig is an SP every profile accepts: https endpoints, the
// three contacts, mdui, and a validUntil inside eduGAIN's window.
const federationConfig = `sp:
  base_url: https://sp.example.org
  metadata: {valid_for: 168h, cache_duration: 6h}
  organization: {name: Example, display_name: Example, url: "https://example.org/"}
  contacts:
    - {type: technical, email: sso@example.org}
    - {type: administrative, email: admin@example.org}
    - {type: security, given_name: CSIRT, email: csirt@example.org}
  ui_info:
    display_name: {en: "Example Research Portal"}
    privacy_statement_url: {en: "https://sp.example.org/privacy"}
  requested_attributes:
    - {name: "urn:oid:0.9.2342.19200300.100.1.3", friendly_name: mail, required: true}
  entity_categories: ["http://refeds.org/category/research-and-scholarship"]
  assurance_certifications: ["https://refeds.org/sirtfi"]
  discovery_response: ["https://sp.example.org/saml/disco"]
`

func TestMetadataLintCommand(t *testing.T) {
	data := newStore(t)
	// The defaults: http endpoints, no contacts, no mdui: errors, exit 1.
	out, err := cli(t, "--data", data, "metadata", "lint")
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("lint of the default metadata: err %v, want exit 1", err)
	}
	for _, s := range []string{"error    incommon  incommon.security-contact", "incommon.https-endpoints", "rule: InCommon Baseline Expectations", "warning  edugain"} {
		if !strings.Contains(out, s) {
			t.Errorf("lint output lacks %q:\n%s", s, out)
		}
	}
	// --json and --profile: only Kantara's rules, which the default keys pass.
	out, err = cli(t, "--data", data, "metadata", "lint", "--profile", "kantara", "--json")
	var findings []metadata.Finding
	if err != nil || json.Unmarshal([]byte(out), &findings) != nil || len(findings) != 0 {
		t.Errorf("lint --profile kantara --json: %v, %q", err, out)
	}
	out, err = cli(t, "--data", data, "metadata", "lint", "--profile", "incommon,edugain", "--json")
	if exitCode(err) != 1 || json.Unmarshal([]byte(out), &findings) != nil || len(findings) == 0 {
		t.Fatalf("lint --json: %v, %q", err, out)
	}
	for _, f := range findings {
		if f.Profile == metadata.ProfileKantara || f.Rule == "" || f.Source == "" {
			t.Errorf("finding %+v: wrong profile or empty", f)
		}
	}
	if _, err := cli(t, "--data", data, "metadata", "lint", "--profile", "surf"); err == nil || !strings.Contains(err.Error(), "--profile") {
		t.Errorf("lint --profile surf: %v", err)
	}

	// A federation-ready config: no findings, exit 0, and the served
	// metadata carries the elements the config asked for.
	cfg := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(federationConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, "--config", cfg, "--data", data, "metadata", "lint")
	if strings.TrimSpace(out) != "no findings" {
		t.Errorf("lint of the federation config printed %q", out)
	}
	md := mustCLI(t, "--config", cfg, "--data", data, "metadata")
	for _, s := range []string{`<mdui:DisplayName xml:lang="en">Example Research Portal</mdui:DisplayName>`, `remd:contactType="http://refeds.org/metadata/contactType/security"`,
		`<md:RequestedAttribute Name="urn:oid:0.9.2342.19200300.100.1.3" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri" FriendlyName="mail" isRequired="true"/>`,
		`<saml:AttributeValue>http://refeds.org/category/research-and-scholarship</saml:AttributeValue>`, `<idpdisc:DiscoveryResponse`} {
		if !strings.Contains(md, s) {
			t.Errorf("metadata lacks %s", s)
		}
	}
}
