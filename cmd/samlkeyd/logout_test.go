package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// selfIdPConfig is an IdP record "self" that is our own SP: its entity id
// is ours, its SLO endpoint is ours and its signing certificate is our
// signing certificate, so that what `sign` makes is what `logout verify`
// must accept from an IdP.
const selfIdPConfig = `sp:
  entity_id: https://sp.example.com/saml/metadata
  base_url: https://sp.example.com
  acs: [{binding: post, location: https://sp.example.com/saml/acs, index: 0, default: true}]
  slo: [{binding: redirect, location: https://sp.example.com/saml/slo, response_location: https://sp.example.com/saml/slo/done}]
idps:
  - name: self
    entity_id: https://sp.example.com/saml/metadata
    sso: {binding: redirect, location: https://sp.example.com/saml/acs}
    slo: {binding: redirect, location: https://sp.example.com/saml/slo, response_location: https://sp.example.com/saml/slo/done}
    sign_logout_request: true
    signing_certs: ["Self signing"]
`

func TestLogoutVerify(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	certFile := filepath.Join(dir, "self.pem")
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing", "--out", certFile)
	mustCLI(t, "--data", data, "cert", "add", "--name", "Self signing", "--type", "trust_store_cert", "--file", certFile)
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(selfIdPConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		return cli(t, append([]string{"--config", cfg, "--data", data}, args...)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("samlkeyd %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	verifyJSON := func(args ...string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(must(append([]string{"logout", "verify", "--idp", "self", "--json"}, args...)...)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}

	u := strings.TrimSpace(must("sign", "logout", "--idp", "self", "--name-id", "alice", "--session-index", "s1", "--relay-state", "/bye"))
	if m := verifyJSON("--url", u); m["kind"] != "LogoutRequest" || m["name_id"] != "alice" || m["relay_state"] != "/bye" {
		t.Fatalf("redirect LogoutRequest: %v", m)
	}
	if _, err := run("logout", "verify", "--idp", "self", "--url", strings.Replace(u, "RelayState=%2Fbye", "RelayState=%2Fbuy", 1)); err == nil || !strings.Contains(err.Error(), "refused: signature") {
		t.Fatalf("tampered URL: %v", err)
	}

	var post struct{ Fields map[string]string }
	if err := json.Unmarshal([]byte(must("sign", "logout", "--idp", "self", "--name-id", "bob", "--binding", "post", "--relay-state", "r", "--json")), &post); err != nil {
		t.Fatal(err)
	}
	form := filepath.Join(dir, "form")
	fields := "SAMLRequest=" + url.QueryEscape(post.Fields["SAMLRequest"]) + "&RelayState=r\n"
	if err := os.WriteFile(form, []byte(fields), 0o600); err != nil {
		t.Fatal(err)
	}
	if m := verifyJSON("--post-file", form); m["kind"] != "LogoutRequest" || m["name_id"] != "bob" || m["relay_state"] != "r" {
		t.Fatalf("POST LogoutRequest: %v", m)
	}

	u = strings.TrimSpace(must("sign", "logout-response", "--idp", "self", "--in-response-to", "_req1", "--status", "partial"))
	if !strings.HasPrefix(u, "https://sp.example.com/saml/slo/done?SAMLResponse=") {
		t.Fatalf("logout-response went to %s", u)
	}
	if m := verifyJSON("--url", u, "--request-id", "_req1"); m["kind"] != "LogoutResponse" || m["status"] != "partial" || m["in_response_to"] != "_req1" {
		t.Fatalf("LogoutResponse: %v", m)
	}
	if _, err := run("logout", "verify", "--idp", "self", "--url", u, "--request-id", "_other"); err == nil || !strings.Contains(err.Error(), "refused: in_response_to") {
		t.Fatalf("wrong request id: %v", err)
	}
	if out := must("logout", "verify", "--idp", "self", "--url", strings.TrimSpace(must("sign", "logout", "--idp", "self", "--name-id", "carol"))); !strings.Contains(out, "name_id: carol") {
		t.Fatalf("text output %q", out)
	}
}
