package keys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	upstreampkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/secret"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

var (
	keytoolAlias = regexp.MustCompile(`(?m)^Alias name: (.*)$`)
	keytoolChain = regexp.MustCompile(`(?m)^Certificate chain length: (\d+)$`)
	keytoolType  = regexp.MustCompile(`(?m)^Keystore type: (.*)$`)
)

// TestWrittenKeystoresReadByKeytool writes keystores with Marshal and has
// keytool list them, check the alias and chain length, and use the private
// key (keytool -certreq decrypts it with the key password).
func TestWrittenKeystoresReadByKeytool(t *testing.T) {
	kt := tooltest.Path(t, "keytool")
	root, err := ParseCertificates(readFixture(t, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		format    Format
		keyAlg    string
		keySize   int
		alias     string
		keyPass   string
		wantType  string
		wantAlias string
	}{
		{"JKS RSA, key password differs", FormatJKS, "RSA", 2048, "saml2sp", testKeyPass, "JKS", "saml2sp"},
		{"JKS EC P-256, mixed-case alias stored lower case", FormatJKS, "EC", 256, "MyKey", testKeyPass, "JKS", "mykey"},
		{"PKCS#12 RSA", FormatPKCS12, "RSA", 2048, "saml2sp", testStorePass, "PKCS12", "saml2sp"},
		{"PKCS#12 EC P-384, keytool shows the alias lower case", FormatPKCS12, "EC", 384, "Signing", testStorePass, "PKCS12", "signing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Generate(GenerateOptions{Alias: tt.alias, KeyAlg: tt.keyAlg, KeySize: tt.keySize, ValidityDays: 365,
				DName: "CN=sp.example.com,O=Example,C=US"})
			if err != nil {
				t.Fatal(err)
			}
			ks := &Keystore{Format: tt.format, Entries: []*Entry{e}}
			if err := ks.ImportTrusted("root", root[0]); err != nil {
				t.Fatal(err)
			}
			data, err := ks.Marshal(secret.FromString(testStorePass), secret.FromString(tt.keyPass))
			if tt.format == FormatJKS && jksRefusedInFIPS(t, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "out.ks")
			if err := WriteFile(path, data); err != nil {
				t.Fatal(err)
			}
			out := run(t, kt, "-list", "-v", "-keystore", path, "-storepass", testStorePass)
			if m := keytoolType.FindStringSubmatch(out); m == nil || m[1] != tt.wantType {
				t.Errorf("keytool keystore type = %v, want %s\n%s", m, tt.wantType, out)
			}
			aliases := keytoolAlias.FindAllStringSubmatch(out, -1)
			chains := keytoolChain.FindAllStringSubmatch(out, -1)
			var gotAliases []string
			for _, m := range aliases {
				gotAliases = append(gotAliases, m[1])
			}
			if len(gotAliases) != 2 || !strings.Contains(strings.Join(gotAliases, ","), tt.wantAlias) || !strings.Contains(strings.Join(gotAliases, ","), "root") {
				t.Errorf("keytool aliases = %v, want %s and root", gotAliases, tt.wantAlias)
			}
			if len(chains) != 1 || chains[0][1] != "1" {
				t.Errorf("keytool chain lengths = %v, want one private-key entry with chain length 1", chains)
			}
			csr := filepath.Join(t.TempDir(), "k.csr")
			run(t, kt, "-certreq", "-alias", tt.wantAlias, "-keystore", path, "-storepass", testStorePass, "-keypass", tt.keyPass, "-file", csr)

			back, err := Parse(data, secret.FromString(testStorePass), secret.FromString(tt.keyPass))
			if err != nil {
				t.Fatalf("Parse of what Marshal wrote: %v", err)
			}
			pk, err := back.PrivateKeyEntry(tt.alias)
			if err != nil {
				t.Fatal(err)
			}
			if !pk.Leaf().Equal(e.Leaf()) || !publicKeysEqual(pk.Key.Public(), e.Key.Public()) {
				t.Error("round trip changed the key or certificate")
			}
		})
	}
}

// TestJKSReadByKeystoreGo has keystore-go, an independent implementation,
// re-read a JKS that Marshal wrote; and Parse read a mixed-case alias that
// keystore-go wrote case-exact.
func TestJKSReadByKeystoreGo(t *testing.T) {
	e, err := Generate(GenerateOptions{Alias: "saml2sp", DName: "CN=sp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&Keystore{Format: FormatJKS, Entries: []*Entry{e}}).Marshal(secret.FromString(testStorePass), secret.FromString(testKeyPass))
	var pkcs8 []byte
	if jksRefusedInFIPS(t, err) {
		// Reading JKS stays allowed in FIPS 140-3 mode: check it below.
		if pkcs8, err = x509.MarshalPKCS8PrivateKey(e.Key); err != nil {
			t.Fatal(err)
		}
	} else {
		if err != nil {
			t.Fatal(err)
		}
		other := keystore.New()
		if err := other.Load(bytes.NewReader(data), []byte(testStorePass)); err != nil {
			t.Fatalf("keystore-go Load: %v", err)
		}
		pke, err := other.GetPrivateKeyEntry("saml2sp", []byte(testKeyPass))
		if err != nil {
			t.Fatalf("keystore-go GetPrivateKeyEntry: %v", err)
		}
		key, err := x509.ParsePKCS8PrivateKey(pke.PrivateKey)
		if err != nil || !e.Key.(*rsa.PrivateKey).Equal(key) {
			t.Fatalf("keystore-go key differs (err %v)", err)
		}
		pkcs8 = pke.PrivateKey
	}

	mixed := keystore.New(keystore.WithCaseExactAliases())
	err = mixed.SetPrivateKeyEntry("MyKey", keystore.PrivateKeyEntry{
		CreationTime:     time.Unix(1700000000, 0),
		PrivateKey:       pkcs8,
		CertificateChain: []keystore.Certificate{{Type: "X.509", Content: e.Leaf().Raw}},
	}, []byte(testStorePass))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := mixed.Store(&buf, []byte(testStorePass)); err != nil {
		t.Fatal(err)
	}
	ks, err := Parse(buf.Bytes(), secret.FromString(testStorePass), secret.Value{})
	if err != nil {
		t.Fatalf("Parse mixed-case JKS: %v", err)
	}
	for _, alias := range []string{"MyKey", "mykey"} {
		got, err := ks.PrivateKeyEntry(alias)
		if err != nil || got.Alias != "MyKey" {
			t.Errorf("PrivateKeyEntry(%q) = %v, %v; want alias MyKey", alias, got, err)
		}
	}
}

func TestPKCS12KeyPasswordMustBeStorePassword(t *testing.T) {
	e, err := Generate(GenerateOptions{Alias: "a", KeyAlg: "EC", DName: "CN=x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Keystore{Format: FormatPKCS12, Entries: []*Entry{e}}).Marshal(secret.FromString(testStorePass), secret.FromString(testKeyPass))
	if err == nil || !strings.Contains(err.Error(), "store password") {
		t.Fatalf("err = %v, want a refusal naming the store password", err)
	}
}

// TestPKCS12ReadByOthers has upstream go-pkcs12 and openssl re-read a
// PKCS#12 that Marshal wrote.
func TestPKCS12ReadByOthers(t *testing.T) {
	e, err := Generate(GenerateOptions{Alias: "saml2sp", DName: "CN=sp.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := (&Keystore{Format: FormatPKCS12, Entries: []*Entry{e}}).Marshal(secret.FromString(testStorePass), secret.Value{})
	if err != nil {
		t.Fatal(err)
	}
	key, cert, _, err := upstreampkcs12.DecodeChain(data, testStorePass)
	if err != nil {
		t.Fatalf("go-pkcs12 DecodeChain: %v", err)
	}
	if !cert.Equal(e.Leaf()) || !e.Key.(*rsa.PrivateKey).Equal(key) {
		t.Error("go-pkcs12 read another key or certificate")
	}
	path := filepath.Join(t.TempDir(), "out.p12")
	if err := WriteFile(path, data); err != nil {
		t.Fatal(err)
	}
	out := run(t, tooltest.Path(t, "openssl"), "pkcs12", "-in", path, "-passin", "pass:"+testStorePass, "-nodes")
	if !strings.Contains(out, "friendlyName: saml2sp") || !strings.Contains(out, "BEGIN PRIVATE KEY") {
		t.Errorf("openssl pkcs12 output lacks the alias or key:\n%s", out)
	}
}

// TestEncodePEMMatchesKeytool compares EncodePEM with keytool -exportcert
// -rfc byte for byte.
func TestEncodePEMMatchesKeytool(t *testing.T) {
	kt := tooltest.Path(t, "keytool")
	path := filepath.Join("testdata", "keytool.jks")
	out := filepath.Join(t.TempDir(), "cert.pem")
	run(t, kt, "-exportcert", "-rfc", "-alias", "saml2sp", "-keystore", path, "-storepass", testStorePass, "-file", out)
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Parse(readFixture(t, "keytool.jks"), secret.FromString(testStorePass), secret.FromString(testKeyPass))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ks.Entry("saml2sp")
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodePEM(e.Chain[:1]); !bytes.Equal(got, want) {
		t.Errorf("EncodePEM differs from keytool -rfc:\n%s\nwant:\n%s", got, want)
	}
	der := filepath.Join(t.TempDir(), "cert.der")
	run(t, kt, "-exportcert", "-alias", "saml2sp", "-keystore", path, "-storepass", testStorePass, "-file", der)
	wantDER, _ := os.ReadFile(der)
	if got := EncodeDER(e.Chain[:1]); !bytes.Equal(got, wantDER) {
		t.Error("EncodeDER differs from keytool -exportcert")
	}
}

func TestCSRVerifiedByOpenSSL(t *testing.T) {
	ossl := tooltest.Path(t, "openssl")
	for _, tt := range []struct {
		name, alg string
		size      int
	}{{"RSA 2048", "RSA", 2048}, {"EC P-256", "EC", 256}, {"EC P-384", "EC", 384}} {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Generate(GenerateOptions{Alias: "a", KeyAlg: tt.alg, KeySize: tt.size, DName: "CN=sp.example.com,O=Example,C=US"})
			if err != nil {
				t.Fatal(err)
			}
			csr, err := CSR(e, nil)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "a.csr")
			if err := os.WriteFile(path, csr, 0o600); err != nil {
				t.Fatal(err)
			}
			out := run(t, ossl, "req", "-in", path, "-noout", "-verify", "-subject")
			if !strings.Contains(out, "verify OK") || !strings.Contains(out, "CN = sp.example.com") {
				t.Errorf("openssl req -verify:\n%s", out)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		o       GenerateOptions
		bits    int
		sigAlg  x509.SignatureAlgorithm
		wantErr string
	}{
		{"RSA default", GenerateOptions{Alias: "a", DName: "CN=x"}, 2048, x509.SHA256WithRSA, ""},
		{"RSA 3072", GenerateOptions{Alias: "a", KeySize: 3072, DName: "CN=x"}, 3072, x509.SHA256WithRSA, ""},
		{"EC P-256", GenerateOptions{Alias: "a", KeyAlg: "EC", DName: "CN=x"}, 256, x509.ECDSAWithSHA256, ""},
		{"EC P-384", GenerateOptions{Alias: "a", KeyAlg: "ec", KeySize: 384, DName: "CN=x"}, 384, x509.ECDSAWithSHA384, ""},
		{"RSA 1024 refused", GenerateOptions{Alias: "a", KeySize: 1024, DName: "CN=x"}, 0, 0, "2048, 3072 or 4096"},
		{"DSA refused", GenerateOptions{Alias: "a", KeyAlg: "DSA", DName: "CN=x"}, 0, 0, "RSA or EC"},
		{"no alias", GenerateOptions{DName: "CN=x"}, 0, 0, "alias is empty"},
		{"bad dname", GenerateOptions{Alias: "a", DName: "sp.example.com"}, 0, 0, "not NAME=value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Now = func() time.Time { return now }
			tt.o.ValidityDays = 30
			e, err := Generate(tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := e.Leaf()
			var bits int
			switch k := e.Key.(type) {
			case *rsa.PrivateKey:
				bits = k.N.BitLen()
			case *ecdsa.PrivateKey:
				bits = k.Curve.Params().BitSize
			}
			if bits != tt.bits || c.SignatureAlgorithm != tt.sigAlg {
				t.Errorf("key %d bits, %v; want %d, %v", bits, c.SignatureAlgorithm, tt.bits, tt.sigAlg)
			}
			if !c.NotBefore.Equal(now) || !c.NotAfter.Equal(now.AddDate(0, 0, 30)) {
				t.Errorf("validity %v..%v, want %v + 30 days", c.NotBefore, c.NotAfter, now)
			}
			if err := checkSelfSigned(c); err != nil {
				t.Errorf("self-signature: %v", err)
			}
			if r := Validate(&Keystore{Entries: []*Entry{e}}, now.Add(time.Hour)); !r.Valid() || len(r.Warnings) > 0 {
				t.Errorf("Validate: %+v", r)
			}
		})
	}
}

func TestParseDName(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"CN=sp.example.com,O=Example,C=US", "CN=sp.example.com,O=Example,C=US", ""},
		{"CN=sp.example.com, OU=SSO, O=Example, L=Springfield, ST=IL, C=US", "CN=sp.example.com,OU=SSO,O=Example,L=Springfield,ST=IL,C=US", ""},
		{`CN=Example\, Inc.,C=US`, `CN=Example\, Inc.,C=US`, ""},
		{`CN="Example, Inc.",C=US`, `CN=Example\, Inc.,C=US`, ""},
		{"cn=lower", "CN=lower", ""},
		{"", "", "empty"},
		{"CN=x,C=USA", "", "two-letter"},
		{"FOO=bar", "", "unknown attribute"},
		{"CN=", "", "empty value"},
		{`CN="open`, "", "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseDName(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWriteFile checks mode 0600, replacement and that no temp file stays.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ks.jks")
	for i, data := range [][]byte{[]byte("one"), []byte("two")} {
		if err := WriteFile(path, data); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		fi, _ := os.Stat(path)
		if !bytes.Equal(got, data) || fi.Mode().Perm() != 0o600 {
			t.Errorf("write %d: content %q mode %v", i, got, fi.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d files, want 1", len(ents))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "ks"), []byte("x")); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestCreateFileKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	if err := CreateFile(path, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(path, []byte("second")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second CreateFile: %v, want os.ErrExist", err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	ents, _ := os.ReadDir(dir)
	if string(got) != "first" || fi.Mode().Perm() != 0o600 || len(ents) != 1 {
		t.Fatalf("after a refused CreateFile: content %q, mode %v, %d files", got, fi.Mode().Perm(), len(ents))
	}
}
