package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

const ksPass = "S3cret-Store"

// cli runs samlkeyd with args and returns stdout and the error.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newApp(strings.NewReader(""), &out, &errb).root()
	root.SetArgs(args)
	err := root.Execute()
	for _, s := range []string{out.String(), errb.String(), errString(err)} {
		if strings.Contains(s, ksPass) {
			t.Errorf("samlkeyd %s printed a password: %q", strings.Join(args, " "), s)
		}
	}
	return out.String(), err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cli(t, args...)
	if err != nil {
		t.Fatalf("samlkeyd %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tooltest.Path(t, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func fixture(name string) string { return filepath.Join("..", "..", "keys", "testdata", name) }

// TestKeystoreProcedure is the reference's procedure end to end: keytool
// -genkeypair; samlkeyd csr; a CA (openssl) signs it; samlkeyd imports the
// root, the intermediate and the reply; validate says "Valid key_store";
// keytool lists the chain. The reply in a wrong order is refused and the
// file left byte-identical.
func TestKeystoreProcedure(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "letstestcba.jks")
	t.Setenv("KS_PASS", ksPass)
	pw := []string{"--keystore", ks, "--storepass-env", "KS_PASS"}

	tool(t, "keytool", "-genkeypair", "-alias", "letstestcba", "-keyalg", "RSA", "-keysize", "2048", "-validity", "365",
		"-keypass", ksPass, "-keystore", ks, "-storepass", ksPass, "-dname", "CN=letstestcba.example.com, O=Example, C=US")
	csr := filepath.Join(dir, "mycsr.pem")
	mustCLI(t, append([]string{"keystore", "csr", "--alias", "letstestcba", "--out", csr}, pw...)...)
	tool(t, "openssl", "req", "-in", csr, "-noout", "-verify")
	signed := filepath.Join(dir, "SignedServerCert.pem")
	tool(t, "openssl", "x509", "-req", "-in", csr, "-CA", fixture("intermediate.pem"), "-CAkey", fixture("intermediate-key.pem"),
		"-CAcreateserial", "-CAserial", filepath.Join(dir, "ca.srl"), "-days", "365", "-sha256", "-out", signed)

	t.Run("a CA's PKCS#7 bundle with the whole chain needs no prior imports", func(t *testing.T) {
		p7b := filepath.Join(dir, "reply.p7b")
		tool(t, "openssl", "crl2pkcs7", "-nocrl", "-certfile", signed, "-certfile", fixture("intermediate.pem"),
			"-certfile", fixture("root.pem"), "-outform", "DER", "-out", p7b)
		data, _ := os.ReadFile(ks)
		other := filepath.Join(t.TempDir(), "copy.jks")
		if err := os.WriteFile(other, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out := mustCLI(t, "keystore", "import", "--alias", "letstestcba", "--file", p7b, "--keystore", other, "--storepass-env", "KS_PASS")
		if !strings.Contains(out, "chain length 3") {
			t.Errorf("import of the bundle printed %q", out)
		}
		if out := mustCLI(t, "keystore", "validate", "--keystore", other, "--storepass-env", "KS_PASS"); out != "Valid key_store\n" {
			t.Errorf("validate printed %q", out)
		}
	})

	t.Run("wrong order refused, file unchanged", func(t *testing.T) {
		before, _ := os.ReadFile(ks)
		_, err := cli(t, append([]string{"keystore", "import", "--alias", "letstestcba", "--file", signed}, pw...)...)
		if !errors.Is(err, keys.ErrReplyNoChain) || !strings.Contains(err.Error(), "import the root and intermediate") {
			t.Fatalf("reply before its CA certificates: err = %v, want ErrReplyNoChain", err)
		}
		mustCLI(t, append([]string{"keystore", "import", "--trustcacerts", "--alias", "root", "--file", fixture("root.pem")}, pw...)...)
		mid, _ := os.ReadFile(ks)
		_, err = cli(t, append([]string{"keystore", "import", "--alias", "letstestcba", "--file", signed}, pw...)...)
		if !errors.Is(err, keys.ErrReplyNoChain) || !strings.Contains(err.Error(), "Example Intermediate CA") {
			t.Fatalf("reply before the intermediate: err = %v, want ErrReplyNoChain naming it", err)
		}
		after, _ := os.ReadFile(ks)
		if !bytes.Equal(mid, after) || bytes.Equal(before, mid) {
			t.Fatal("a refused import changed the keystore file")
		}
		_, err = cli(t, append([]string{"keystore", "import", "--alias", "letstestcba", "--file", fixture("leaf.pem")}, pw...)...)
		if !errors.Is(err, keys.ErrReplyKeyMismatch) {
			t.Fatalf("reply for another key: err = %v, want ErrReplyKeyMismatch", err)
		}
		if now, _ := os.ReadFile(ks); !bytes.Equal(mid, now) {
			t.Fatal("a refused import changed the keystore file")
		}
	})

	out := mustCLI(t, append([]string{"keystore", "import", "--trustcacerts", "--alias", "intermediate", "--file", fixture("intermediate.pem")}, pw...)...)
	if !strings.Contains(out, "Certificate was added to keystore") {
		t.Errorf("import intermediate printed %q", out)
	}
	out = mustCLI(t, append([]string{"keystore", "import", "--alias", "letstestcba", "--file", signed}, pw...)...)
	if !strings.Contains(out, "chain length 3") {
		t.Errorf("import reply printed %q", out)
	}
	if out = mustCLI(t, append([]string{"keystore", "validate"}, pw...)...); out != "Valid key_store\n" {
		t.Errorf("validate printed %q, want Valid key_store", out)
	}
	list := tool(t, "keytool", "-list", "-v", "-keystore", ks, "-storepass", ksPass)
	if !strings.Contains(list, "Alias name: letstestcba") || !strings.Contains(list, "Certificate chain length: 3") {
		t.Errorf("keytool -list -v after the procedure:\n%s", list)
	}
	for _, alias := range []string{"letstestcba", "root", "intermediate"} {
		want := filepath.Join(dir, alias+".keytool.pem")
		tool(t, "keytool", "-exportcert", "-rfc", "-alias", alias, "-keystore", ks, "-storepass", ksPass, "-file", want)
		got := filepath.Join(dir, alias+".pem")
		mustCLI(t, append([]string{"keystore", "export", "--alias", alias, "--out", got}, pw...)...)
		w, _ := os.ReadFile(want)
		g, _ := os.ReadFile(got)
		if !bytes.Equal(w, g) {
			t.Errorf("export %s differs from keytool -exportcert -rfc", alias)
		}
	}
	chain := mustCLI(t, append([]string{"keystore", "export", "--alias", "letstestcba", "--chain"}, pw...)...)
	if n := strings.Count(chain, "BEGIN CERTIFICATE"); n != 3 {
		t.Errorf("export --chain gave %d certificates, want 3", n)
	}
}

// TestKeystoreCommands drives generate, list, changealias, storepasswd and
// keypasswd on a JKS whose key password differs, checking with keytool.
func TestKeystoreCommands(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "sp.jks")
	passFile := filepath.Join(dir, "store.pw")
	if err := os.WriteFile(passFile, []byte(ksPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEY_PASS", "Key-Pass-1")
	sp := []string{"--keystore", ks, "--storepass-file", passFile}
	kp := append(sp, "--keypass-env", "KEY_PASS")

	out := mustCLI(t, append([]string{"keystore", "generate", "--storetype", "jks", "--alias", "saml2sp", "--keyalg", "EC", "--keysize", "384",
		"--validity", "30", "--dname", "CN=sp.example.com,O=Example,C=US"}, kp...)...)
	if !strings.Contains(out, "384-bit EC") {
		t.Errorf("generate printed %q", out)
	}
	if fi, _ := os.Stat(ks); fi.Mode().Perm() != 0o600 {
		t.Errorf("keystore mode %v, want 0600", fi.Mode().Perm())
	}
	// Like keytool -list, list needs only the store password; csr needs the key.
	if out, err := cli(t, append([]string{"keystore", "list", "-v"}, sp...)...); err != nil || !strings.Contains(out, "Entry type: PrivateKeyEntry") {
		t.Errorf("list without the key password: %v\n%s", err, out)
	}
	if _, err := cli(t, append([]string{"keystore", "csr"}, sp...)...); !errors.Is(err, keys.ErrWrongKeyPassword) || !strings.Contains(err.Error(), "--keypass") {
		t.Errorf("csr without the key password: err = %v, want ErrWrongKeyPassword naming --keypass", err)
	}
	var entries []entryJSON
	if err := json.Unmarshal([]byte(mustCLI(t, append([]string{"keystore", "list", "--json"}, kp...)...)), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Alias != "saml2sp" || entries[0].Type != "PrivateKeyEntry" || len(entries[0].Chain) != 1 || entries[0].Chain[0].Key != "384-bit EC (P-384) key" {
		t.Errorf("list --json = %+v", entries)
	}
	if out := mustCLI(t, append([]string{"keystore", "list", "-v"}, kp...)...); !strings.Contains(out, "Certificate chain length: 1") || !strings.Contains(out, "Alias name: saml2sp") {
		t.Errorf("list -v:\n%s", out)
	}

	mustCLI(t, append([]string{"keystore", "changealias", "--alias", "saml2sp", "--destalias", "signing"}, kp...)...)
	t.Setenv("NEW_PASS", "New-Store-2")
	mustCLI(t, append([]string{"keystore", "storepasswd", "--new-env", "NEW_PASS"}, kp...)...)
	t.Setenv("NEW_KEY", "New-Key-3")
	mustCLI(t, "keystore", "keypasswd", "--keystore", ks, "--storepass-env", "NEW_PASS", "--keypass-env", "KEY_PASS", "--new-env", "NEW_KEY")

	loaded, err := keys.LoadFile(ks, secret.FromString("New-Store-2"), secret.FromString("New-Key-3"))
	if err != nil {
		t.Fatalf("after storepasswd and keypasswd: %v", err)
	}
	if _, err := loaded.PrivateKeyEntry("signing"); err != nil {
		t.Errorf("after changealias: %v", err)
	}
	list := tool(t, "keytool", "-list", "-v", "-keystore", ks, "-storepass", "New-Store-2")
	if !strings.Contains(list, "Alias name: signing") {
		t.Errorf("keytool -list after changealias:\n%s", list)
	}
	tool(t, "keytool", "-certreq", "-alias", "signing", "-keystore", ks, "-storepass", "New-Store-2", "-keypass", "New-Key-3", "-file", filepath.Join(dir, "k.csr"))
}

func TestKeystoreValidateProblems(t *testing.T) {
	// Files that do not load are problems too, with exit status 2 (issue
	// 14: they exited 1 with no problem line), each saying why.
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"switched key and certificate", []string{"--keystore", fixture("mismatched.pem")}, "switched"},
		{"truncated PKCS#12", []string{"--keystore", fixture("truncated.p12"), "--storepass", "storepass1"}, "copied in text mode"},
		{"PKCS#12 copied in text mode", []string{"--keystore", fixture("textmode.p12"), "--storepass", "storepass1"}, "copy it again in binary mode"},
		{"wrong store password", []string{"--keystore", fixture("keytool.jks"), "--storepass", "wrong"}, "wrong store password"},
		{"wrong key password given", []string{"--keystore", fixture("keytool.jks"), "--storepass", "storepass1", "--keypass", "wrong"},
			"wrong key password: the key password given does not open this key\n"},
		{"key password not given", []string{"--keystore", fixture("keytool.jks"), "--storepass", "storepass1"},
			"not the store password: give the key password (give it with --keypass-file, --keypass-env or --keypass)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := cli(t, append([]string{"keystore", "validate"}, tt.args...)...)
			if exitCode(err) != 2 || !strings.HasPrefix(out, "problem: load keystore ") || !strings.Contains(out, tt.want) {
				t.Errorf("validate: out %q, err %v (exit %d); want exit 2 and a problem line with %q", out, err, exitCode(err), tt.want)
			}
		})
	}
	out, err := cli(t, "keystore", "validate", "--keystore", fixture("chain.pem"))
	if exitCode(err) != 2 || !strings.Contains(out, "problem: no private-key entry") {
		t.Fatalf("validate of a bundle without key: out %q err %v, want exit 2 and the problem", out, err)
	}
	// Flags that give no password are a usage error, not a problem.
	if _, err := cli(t, "keystore", "validate", "--keystore", fixture("keytool.jks")); exitCode(err) != 1 {
		t.Errorf("validate with no password and no terminal: %v (exit %d), want exit 1", err, exitCode(err))
	}
	out, err = cli(t, "keystore", "validate", "--keystore", fixture("weak.pem"), "--storepass", "")
	if err != nil || !strings.Contains(out, "warning:") || !strings.HasSuffix(out, "Valid key_store\n") {
		t.Fatalf("validate of a weak keystore: out %q err %v, want warnings and Valid key_store", out, err)
	}
}

func TestPasswordFlags(t *testing.T) {
	ks := fixture("keytool.jks")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two sources", []string{"--storepass", "x", "--storepass-env", "HOME"}, "give only one of"},
		{"no password, no terminal", nil, "stdin is not a terminal"},
		{"unset environment variable", []string{"--storepass-env", "SAMLKEYD_TEST_UNSET"}, `"SAMLKEYD_TEST_UNSET"`},
		{"missing file", []string{"--storepass-file", "/nonexistent/pw"}, "read --storepass-file"},
		{"wrong store password", []string{"--storepass", ksPass}, "wrong store password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cli(t, append([]string{"keystore", "list", "--keystore", ks}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
