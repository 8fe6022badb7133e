package keys

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
	"github.com/samlkeyd/samlkeyd/secret"
)

// jksRefusedInFIPS reports whether the mode is on, and then that err is
// keys/fips's refusal to write JKS: a test of writing JKS stops there.
func jksRefusedInFIPS(t *testing.T, err error) bool {
	t.Helper()
	if !fips.Enabled() {
		return false
	}
	if !errors.Is(err, fips.ErrRefused) || !strings.Contains(err.Error(), "jks is refused in FIPS 140-3 mode") {
		t.Fatalf("writing JKS in FIPS 140-3 mode: %v, want the refusal", err)
	}
	return true
}

// TestFIPSKeystores: in FIPS 140-3 mode (a GODEBUG=fips140=on subprocess
// in a normal run) writing JKS is refused and PKCS#12 is written; legacy
// keystores (JKS, PKCS#12 with RC2/3DES and a SHA-1 MAC) still open: they
// are stored key material, not a crypto service (docs/security.md).
// Generating an RSA key under 2048 bits is refused in both modes.
func TestFIPSKeystores(t *testing.T) {
	in := fipstest.InMode(t)
	e, err := Generate(GenerateOptions{Alias: "a", DName: "CN=x"})
	if err != nil {
		t.Fatal(err)
	}
	pw := secret.FromString(testStorePass)
	_, err = (&Keystore{Format: FormatJKS, Entries: []*Entry{e}}).Marshal(pw, pw)
	if in {
		jksRefusedInFIPS(t, err)
	} else if err != nil {
		t.Fatalf("write JKS with the mode off: %v", err)
	}
	if _, err := (&Keystore{Format: FormatPKCS12, Entries: []*Entry{e}}).Marshal(pw, pw); err != nil {
		t.Fatalf("write PKCS#12: %v", err)
	}
	for _, f := range []struct{ file, keyPass string }{{"keytool.jks", testKeyPass}, {"openssl-legacy.p12", ""}} {
		data, err := os.ReadFile(filepath.Join("testdata", f.file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, secret.FromString(testStorePass), secret.FromString(f.keyPass)); err != nil {
			t.Errorf("open %s (mode on: %v): %v", f.file, in, err)
		}
	}
	if _, err := Generate(GenerateOptions{Alias: "a", DName: "CN=x", KeySize: 1024}); err == nil || !strings.Contains(err.Error(), "use 2048, 3072 or 4096") {
		t.Errorf("generate RSA-1024: %v, want a refusal", err)
	}
}

// TestPKCS12ApprovedProtection has openssl read the protection of a
// PKCS#12 file samlkeyd writes: PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC)
// for the key and certificates, an HMAC-SHA-256 MAC; no RC2, 3DES or SHA-1.
func TestPKCS12ApprovedProtection(t *testing.T) {
	openssl := tooltest.Path(t, "openssl")
	g, err := GenerateKeystore(KeystoreOptions{GenerateOptions: GenerateOptions{Alias: "a", DName: "CN=x"}, Format: FormatPKCS12})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.p12")
	if err := WriteFile(path, g.Data); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "pkcs12", "-info", "-noout", "-in", path, "-passin", "env:P12PASS")
	cmd.Env = append(os.Environ(), "P12PASS="+string(g.StorePassword.Reveal()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
	}
	for _, want := range []string{
		"MAC: sha256, Iteration 10000",
		"PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256",
		"Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl pkcs12 -info lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"RC2", "3DES", "DES", "sha1"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("openssl pkcs12 -info names %s:\n%s", bad, out)
		}
	}
}
