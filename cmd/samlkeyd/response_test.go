package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResponseVerifyRefusals(t *testing.T) {
	data := t.TempDir()
	dir := t.TempDir()
	// An IdP whose signing certificate is a trust-store record: the
	// base signing certificate stands in for it.
	certFile := filepath.Join(dir, "idp.pem")
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing", "--out", certFile)
	mustCLI(t, "--data", data, "cert", "add", "--name", "Corp IdP signing", "--type", "trust_store_cert", "--file", certFile)
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(idpConfig+"    signing_certs: [\"Corp IdP signing\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"not base64", "%%%", "refused: malformed"},
		{"not a Response", "PHg+PC94Pg==", "refused: malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(dir, "resp.b64")
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := cli(t, "--config", cfg, "--data", data, "response", "verify", "--idp", "corp", "--file", f)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("response verify: %v, want %q", err, tc.want)
			}
		})
	}
	_, err := cli(t, "--config", cfg, "--data", data, "response", "verify", "--idp", "nobody", "--file", certFile)
	if err == nil || !strings.Contains(err.Error(), "unknown_idp") {
		t.Fatalf("unknown IdP: %v", err)
	}
}
