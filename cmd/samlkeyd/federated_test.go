package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSignAuthnFederated: `sign authn --idp <entity id>` resolves an IdP
// known only through an idp_sources aggregate (idpmeta's signed test
// aggregate), offline; an entity id no source has stays unknown.
func TestSignAuthnFederated(t *testing.T) {
	data := newStore(t)
	dir := t.TempDir()
	agg, err := filepath.Abs("../../idpmeta/testdata/aggregate.xml")
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "--data", data, "cert", "add", "--name", "Fed signer", "--type", "trust_store_cert", "--file", "../../idpmeta/testdata/cert0.pem")
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(idpConfig+"idp_sources:\n  - {name: fed, aggregate_file: "+agg+", signing_cert: \"Fed signer\", sign_authn_request: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(mustCLI(t, "--config", cfg, "--data", data, "sign", "authn", "--idp", "https://idp.uni-a.example/idp"))
	if !strings.HasPrefix(out, "https://idp.uni-a.example/sso?SAMLRequest=") || !strings.Contains(out, "&Signature=") {
		t.Fatalf("sign authn to a federation entity id: %s", out)
	}
	if _, err := cli(t, "--config", cfg, "--data", data, "sign", "authn", "--idp", "https://nobody.example/idp"); err == nil || !strings.Contains(err.Error(), "unknown idp") {
		t.Fatalf("unknown entity id: %v", err)
	}
	// the corp record's own name still works
	if out := mustCLI(t, "--config", cfg, "--data", data, "sign", "authn", "--idp", "corp"); !strings.HasPrefix(out, "https://idp.example.com/sso?") {
		t.Fatalf("named record: %s", out)
	}
}
