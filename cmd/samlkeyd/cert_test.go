package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/store"
)

// TestCertValidateTrustedCertificate: a trust_store_cert record is
// validated as a certificate (issue 14: it failed with "no private-key
// entry: a key_store needs one", exit 2).
func TestCertValidateTrustedCertificate(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	good := filepath.Join(dir, "good.pem")
	writeCert(t, good, "Partner root", time.Now().Add(365*24*time.Hour))
	id := strings.TrimSpace(mustCLI(t, "--data", data, "--log-level", "error", "cert", "add", "--name", "Partner root", "--type", "trust_store_cert", "--file", good))
	out, err := cli(t, "--data", data, "--log-level", "error", "cert", "validate", id)
	if err != nil {
		t.Fatalf("cert validate of a good trusted certificate: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "certificate: CN=Partner root: self-signed, 256-bit EC (P-256) key, ECDSA-SHA256, valid ") ||
		!strings.HasSuffix(out, "\nValid certificate\n") || strings.Contains(out, "problem") {
		t.Errorf("cert validate = %q", out)
	}

	// An expired certificate (cert add takes it: expiry is validate's
	// business): exit 2, problem lines.
	gone := filepath.Join(dir, "gone.pem")
	writeCert(t, gone, "Gone", time.Now().Add(-time.Minute))
	id = strings.TrimSpace(mustCLI(t, "--data", data, "--log-level", "error", "cert", "add", "--name", "Gone", "--type", "trust_store_cert", "--file", gone))
	out, err = cli(t, "--data", data, "--log-level", "error", "cert", "validate", id)
	if exitCode(err) != 2 || !strings.Contains(out, "problem: alias") || !strings.Contains(out, "expired on") || strings.Contains(out, "private-key") {
		t.Errorf("cert validate of an expired certificate = %q, %v (exit %d), want an expiry problem and exit 2", out, err, exitCode(err))
	}
}

// TestCertExportNewPasswords: a base keystore, whose passwords are random
// and sealed, is exported under passwords the operator chose, and keytool
// opens it with them.
func TestCertExportNewPasswords(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	spFile, kpFile := filepath.Join(dir, "sp"), filepath.Join(dir, "kp")
	const newSP, newKP = "Chosen-Store-Pw-1", "Chosen-Key-Pw-2"
	for f, pw := range map[string]string{spFile: newSP, kpFile: newKP} {
		if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	export := func(name string, args ...string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		out, err := cli(t, append([]string{"--data", data, "--log-level", "error", "cert", "export", store.BaseSigningID, "--out", f, "--new-storepass-file", spFile}, args...)...)
		if err != nil || out != "" {
			t.Fatalf("cert export %v = %q, %v", args, out, err)
		}
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("exported %s: %v, want mode 0600", name, err)
		}
		return f
	}
	jks := export("same.jks")
	if list := tool(t, "keytool", "-list", "-keystore", jks, "-storepass", newSP); !strings.Contains(list, "saml2sp, ") || !strings.Contains(list, "PrivateKeyEntry") {
		t.Errorf("keytool -list of the re-encrypted export:\n%s", list)
	}
	p12 := export("base.p12", "--format", "pkcs12")
	if list := tool(t, "keytool", "-list", "-keystore", p12, "-storepass", newSP); !strings.Contains(list, "Keystore type: PKCS12") || !strings.Contains(list, "saml2sp, ") {
		t.Errorf("keytool -list of the PKCS#12 export:\n%s", list)
	}
	// A JKS key password of its own: keytool needs it to use the key.
	keyed := export("keyed.jks", "--new-keypass-file", kpFile)
	tool(t, "keytool", "-certreq", "-alias", "saml2sp", "-keystore", keyed, "-storepass", newSP, "-keypass", newKP, "-file", filepath.Join(dir, "req.csr"))

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "jks"}, "need --new-storepass"},
		{[]string{"--new-storepass-file", spFile, "--format", "pem"}, `--format "pem"`},
		{[]string{"--new-storepass-file", spFile, "--new-keypass-file", kpFile, "--format", "pkcs12"}, "PKCS#12 keys use the store password"},
	} {
		_, err := cli(t, append([]string{"--data", data, "--log-level", "error", "cert", "export", store.BaseSigningID, "--out", filepath.Join(dir, "x")}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("cert export %v = %v, want %q", bad.args, err, bad.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Error("a refused export wrote its file")
	}
}

// TestCertAddDamagedFile: a truncated PKCS#12 is refused saying what
// probably happened and how to fix it, not only "asn1: syntax error".
func TestCertAddDamagedFile(t *testing.T) {
	data := newStore(t)
	_, err := cli(t, "--data", data, "--log-level", "error", "cert", "add", "--name", "x", "--type", "pkcs12",
		"--file", fixture("truncated.p12"), "--storepass", "storepass1")
	if err == nil || !strings.Contains(err.Error(), "data truncated") || !strings.Contains(err.Error(), "copied in text mode") ||
		!strings.Contains(err.Error(), "copy it again in binary mode") || !strings.Contains(err.Error(), "truncated.p12") {
		t.Errorf("cert add of a truncated PKCS#12 = %v", err)
	}
}
