//go:build cgo

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// TestPKCS11RenewAndRotate is the token equivalent of the reference's
// keytool procedure, end to end through the CLI with SoftHSM2 and openssl:
// a token key added as a record validates; cert renew makes a new key in
// the token and a CSR through it that openssl verifies; an openssl CA signs
// it; cert add takes the CA reply as the new key's chain, and the record
// validates and serves. A CA-signed record is not rotated; a self-signed
// token record is, inside the token.
func TestPKCS11RenewAndRotate(t *testing.T) {
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, "samlkeyd", p11PIN, "so-"+p11PIN)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(p11PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	conf := "pkcs11:\n  module: " + s.Module + "\nsp:\n  entity_id: https://sp.example.com/saml/metadata\n" +
		"rotation:\n  signing: {key_alg: rsa, key_size: 2048, validity: 2160h, rotate_before: 720h, publish_for: 168h, retire_after: 168h, schedule: \"@daily\"}\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	data := newStore(t)
	run := func(args ...string) string {
		t.Helper()
		return mustCLI(t, append([]string{"--config", cfg, "--data", data, "--log-level", "error"}, args...)...)
	}
	uriOf := func(out, label string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^uri: (pkcs11:token=samlkeyd;object=` + label + `;id=\S+)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no URI for %s in:\n%s", label, out)
		}
		return m[1]
	}

	out := run("pkcs11", "generate", "--module", s.Module, "--token", "samlkeyd", "--label", "signing-2027",
		"--dname", "CN=sp.example.com,O=Example,C=US", "--validity", "365", "--pin-file", pinFile)
	id := strings.TrimSpace(run("cert", "add", "--name", "token signing", "--type", "pkcs11", "--uri", uriOf(out, "signing-2027"), "--pin-file", pinFile))
	if out := run("cert", "validate", id); !strings.Contains(out, "Valid key_store") {
		t.Fatalf("cert validate of the token record:\n%s", out)
	}

	// Renew: a new key in the token, its CSR through the token.
	csr := filepath.Join(dir, "req.csr")
	out = run("cert", "renew", id, "--label", "signing-2028", "--out", csr)
	newURI := uriOf(out, "signing-2028")
	if !strings.Contains(out, "cert add --type pkcs11") {
		t.Errorf("renew does not say the next step:\n%s", out)
	}
	if v := tool(t, "openssl", "req", "-in", csr, "-verify", "-noout", "-subject"); !strings.Contains(v, "verify OK") || !strings.Contains(v, "CN = sp.example.com") {
		t.Fatalf("openssl req -verify:\n%s", v)
	}
	if flags := s.KeyAccess(t, "samlkeyd", p11PIN, "signing-2028"); !flags["sensitive"] || flags["extractable"] {
		t.Fatalf("the renewed key's Access flags %v: want sensitive, not extractable", flags)
	}

	// An openssl CA signs it; the reply and the CA become the chain.
	caKey, caCert, leaf := filepath.Join(dir, "ca.key"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "leaf.pem")
	tool(t, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", caCert, "-subj", "/CN=Test SAML CA", "-days", "30")
	tool(t, "openssl", "x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-out", leaf, "-days", "30")
	chain := filepath.Join(dir, "chain.pem")
	leafPEM, _ := os.ReadFile(leaf)
	caPEM, _ := os.ReadFile(caCert)
	if err := os.WriteFile(chain, append(leafPEM, caPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, "--config", cfg, "--data", data, "--log-level", "error", "cert", "add", "--name", "wrong chain",
		"--type", "pkcs11", "--uri", newURI, "--pin-file", pinFile, "--file", caCert); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("cert add with another key's certificate as the chain: %v", err)
	}
	renewed := strings.TrimSpace(run("cert", "add", "--name", "token signing 2028", "--type", "pkcs11", "--uri", newURI, "--pin-file", pinFile, "--file", chain))
	if out := run("cert", "validate", renewed); !strings.Contains(out, "Valid key_store") {
		t.Fatalf("cert validate of the CA-signed token record:\n%s", out)
	}
	// Roll it over: a brought pkcs11 record is published, then promoted.
	run("rotate", "publish", "--use", "signing", "--record", "token signing 2028")
	run("rotate", "promote", "--use", "signing")
	if out := run("property", "get", "glide.authenticate.sso.saml2.keystore"); strings.TrimSpace(out) != renewed {
		t.Fatalf("after promote the signing property is %q, want %s", out, renewed)
	}
	served := run("metadata", "pem", "--use", "signing")
	if !strings.HasPrefix(strings.TrimSpace(served), strings.TrimSpace(string(leafPEM))) {
		t.Fatalf("metadata pem serves:\n%s\nwant the CA-signed certificate first:\n%s", served, leafPEM)
	}

	// A CA-signed token key is not rotated; a self-signed one is, inside
	// the token.
	if _, err := cli(t, "--config", cfg, "--data", data, "--log-level", "error", "rotate", "--use", "signing", "--now"); err == nil ||
		!strings.Contains(err.Error(), "CA-signed") || !strings.Contains(err.Error(), renewed) {
		t.Fatalf("rotate with a CA-signed token record selected: %v", err)
	}
	run("property", "set", "glide.authenticate.sso.saml2.keystore", id)
	out = run("rotate", "--use", "signing", "--now")
	m := regexp.MustCompile(`(?m)^generate_next ([0-9a-f]{32}):`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "promote "+m[1]) {
		t.Fatalf("rotate --now:\n%s", out)
	}
	show := run("cert", "show", m[1])
	if !strings.Contains(show, "pkcs11") || strings.Contains(show, p11PIN) {
		t.Fatalf("the rotated record:\n%s", show)
	}
	if out := run("cert", "validate", m[1]); !strings.Contains(out, "Valid key_store") {
		t.Fatalf("cert validate of the rotated token record:\n%s", out)
	}
}
