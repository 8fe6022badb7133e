//go:build cgo

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
)

const p11PIN = "S3cret-Store" // ksPass: cli() fails a test that prints it

// TestPKCS11CommandsEndToEnd: generate a key in a SoftHSM2 token, find it
// with list (flags, certificate), make a CSR through it that openssl
// verifies, and see a wrong PIN refused naming the URI.
func TestPKCS11CommandsEndToEnd(t *testing.T) {
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, "samlkeyd", p11PIN, "so-"+p11PIN)
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(p11PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out := mustCLI(t, "pkcs11", "generate", "--module", s.Module, "--token", "samlkeyd", "--label", "signing-2027",
		"--dname", "CN=sp.example.com,O=Example,C=US", "--validity", "365", "--pin-file", pinFile)
	m := regexp.MustCompile(`(?m)^uri: (pkcs11:token=samlkeyd;object=signing-2027;id=\S+)$`).FindStringSubmatch(out)
	fp := regexp.MustCompile(`(?m)^sha256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})$`).FindStringSubmatch(out)
	if m == nil || fp == nil {
		t.Fatalf("generate output lacks the URI or fingerprint:\n%s", out)
	}
	uri := m[1]
	if _, err := pkcs11.ParseURI(uri); err != nil {
		t.Fatalf("printed URI: %v", err)
	}

	out = mustCLI(t, "pkcs11", "list", "--module", s.Module)
	if !strings.Contains(out, `token "samlkeyd"  manufacturer "SoftHSM project"`) || strings.Contains(out, "signing-2027") {
		t.Fatalf("list without PIN:\n%s", out)
	}
	out = mustCLI(t, "pkcs11", "list", "--module", s.Module, "--token", "samlkeyd", "--pin-file", pinFile)
	for _, want := range []string{`key "signing-2027"`, "RSA 2048", "sensitive, not extractable, always sensitive, never extractable",
		"usage sign,decrypt", "uri " + uri, "subject CN=sp.example.com,O=Example,C=US", "sha256 " + fp[1]} {
		if !strings.Contains(out, want) {
			t.Errorf("list with PIN lacks %q:\n%s", want, out)
		}
	}

	csr := filepath.Join(dir, "req.csr")
	mustCLI(t, "pkcs11", "csr", "--module", s.Module, "--uri", uri, "--pin-file", pinFile, "--out", csr)
	if v := tool(t, "openssl", "req", "-in", csr, "-verify", "-noout", "-subject"); !strings.Contains(v, "verify OK") || !strings.Contains(v, "CN = sp.example.com") {
		t.Fatalf("openssl req -verify:\n%s", v)
	}

	wrong := filepath.Join(dir, "wrong")
	if err := os.WriteFile(wrong, []byte("not-the-pin"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := cli(t, "pkcs11", "csr", "--module", s.Module, "--uri", uri, "--pin-file", wrong, "--out", filepath.Join(dir, "x.csr"))
	if err == nil || !strings.Contains(err.Error(), "wrong PIN") || !strings.Contains(err.Error(), uri) || strings.Contains(err.Error(), "not-the-pin") {
		t.Fatalf("csr with a wrong PIN: %v", err)
	}
	_, err = cli(t, "pkcs11", "csr", "--module", s.Module, "--uri", uri+"?pin-value="+p11PIN, "--pin-file", pinFile)
	if err == nil || !strings.Contains(err.Error(), "--pin-file") {
		t.Fatalf("csr with a PIN in the URI: %v", err)
	}
	_, err = cli(t, "pkcs11", "generate", "--module", s.Module, "--token", "samlkeyd", "--label", "signing-2027",
		"--dname", "CN=x", "--pin-file", pinFile)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("generate over an existing label: %v", err)
	}

	certAddPKCS11(t, s.Module, dir, uri, pinFile, wrong)
}

// certAddPKCS11: cert add --type pkcs11 opens the token with the config's
// pkcs11.module, refuses a wrong PIN without adding, and adds a record
// whose chain is the token's certificate and which a keystore property
// selects.
func certAddPKCS11(t *testing.T, module, dir, uri, pinFile, wrong string) {
	t.Helper()
	data := newStore(t)
	cfg := filepath.Join(dir, "p11.yaml")
	if err := os.WriteFile(cfg, []byte("pkcs11:\n  module: "+module+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	add := func(pin string) (string, error) {
		return cli(t, "--config", cfg, "--data", data, "--log-level", "error", "cert", "add", "--name", "token signing",
			"--type", "pkcs11", "--uri", uri, "--pin-file", pin)
	}
	if _, err := add(wrong); err == nil || !strings.Contains(err.Error(), "wrong PIN") || strings.Contains(err.Error(), "not-the-pin") {
		t.Fatalf("cert add with a wrong PIN: %v", err)
	}
	if _, err := cli(t, "--data", data, "--log-level", "error", "cert", "add", "--name", "no module",
		"--type", "pkcs11", "--uri", uri, "--pin-file", pinFile); err == nil || !strings.Contains(err.Error(), "pkcs11.module") {
		t.Fatalf("cert add without pkcs11.module: %v", err)
	}
	out, err := add(pinFile)
	if err != nil {
		t.Fatalf("cert add --type pkcs11: %v", err)
	}
	id := strings.TrimSpace(out)
	show := mustCLI(t, "--data", data, "cert", "show", id)
	if !strings.Contains(show, "pkcs11") || strings.Contains(show, p11PIN) {
		t.Fatalf("cert show:\n%s", show)
	}
	mustCLI(t, "--data", data, "property", "set", "glide.authenticate.sso.saml2.keystore", id)
}
