package keys

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

const (
	testStorePass = "storepass1"
	testKeyPass   = "keypass1"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v (run testdata/gen.sh)", err)
	}
	return b
}

// entryShape is what a test expects of one entry: alias, private or not,
// and chain length.
type entryShape struct {
	alias   string
	private bool
	chain   int
}

func shapes(ks *Keystore) []entryShape {
	var out []entryShape
	for _, e := range ks.Entries {
		out = append(out, entryShape{e.Alias, e.IsPrivateKey(), len(e.Chain)})
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		storePass string
		keyPass   string
		format    Format
		entries   []entryShape
	}{
		{"keytool JKS, key password differs", "keytool.jks", testStorePass, testKeyPass, FormatJKS,
			[]entryShape{{"root", false, 1}, {"saml2sp", true, 1}}},
		{"keytool PKCS#12 named .jks (keytool lower-cased MyKey)", "keytool-default.jks", testStorePass, "", FormatPKCS12,
			[]entryShape{{"mykey", true, 1}}},
		{"keytool PKCS#12 after the reference procedure", "keytool-chain.p12", testStorePass, "", FormatPKCS12,
			[]entryShape{{"intermediate", false, 1}, {"letstestcba", true, 3}, {"root", false, 1}}},
		{"keytool EC PKCS#12", "keytool-ec.p12", testStorePass, "", FormatPKCS12,
			[]entryShape{{"ec", true, 1}}},
		{"openssl PKCS#12 AES with chain", "openssl.p12", testStorePass, "", FormatPKCS12,
			[]entryShape{{"MySP", true, 2}}},
		{"openssl PKCS#12 legacy 3DES/RC2", "openssl-legacy.p12", testStorePass, "", FormatPKCS12,
			[]entryShape{{"MySP", true, 2}}},
		{"PEM PKCS#8 key with chain", "leaf-pkcs8.pem", "", "", FormatPEM,
			[]entryShape{{"1", true, 2}}},
		{"PEM PKCS#1 key, chain out of order", "leaf-pkcs1.pem", "", "", FormatPEM,
			[]entryShape{{"1", true, 2}}},
		{"PEM SEC1 EC key", "ec-sec1.pem", "", "", FormatPEM,
			[]entryShape{{"1", true, 1}}},
		{"PEM bundle without key", "chain.pem", "", "", FormatPEM,
			[]entryShape{{"1", false, 1}, {"2", false, 1}, {"3", false, 1}}},
		{"DER certificate", "root.der", "", "", FormatDER,
			[]entryShape{{"1", false, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := Parse(readFixture(t, tt.file), secret.FromString(tt.storePass), secret.FromString(tt.keyPass))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ks.Format != tt.format {
				t.Errorf("format = %q, want %q", ks.Format, tt.format)
			}
			got := shapes(ks)
			slices.SortFunc(got, func(a, b entryShape) int { return strings.Compare(a.alias, b.alias) })
			if len(got) != len(tt.entries) {
				t.Fatalf("entries = %+v, want %+v", got, tt.entries)
			}
			for i := range got {
				if got[i] != tt.entries[i] {
					t.Errorf("entry %d = %+v, want %+v", i, got[i], tt.entries[i])
				}
			}
			for _, e := range ks.Entries {
				if e.IsPrivateKey() && !publicKeysEqual(e.Leaf().PublicKey, e.Key.Public()) {
					t.Errorf("alias %q: leaf does not match key", e.Alias)
				}
				for i := 0; i+1 < len(e.Chain); i++ {
					if err := e.Chain[i].CheckSignatureFrom(e.Chain[i+1]); err != nil {
						t.Errorf("alias %q: chain link %d: %v", e.Alias, i, err)
					}
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		storePass string
		keyPass   string
		want      error  // sentinel, or nil to match text only
		text      string // substring of the error
	}{
		{"JKS wrong store password", "keytool.jks", "Wr0ng-pw", testKeyPass, ErrWrongStorePassword, "store password"},
		{"JKS wrong key password", "keytool.jks", testStorePass, "Wr0ng-pw", ErrWrongKeyPassword, `alias "saml2sp": wrong key password: the key password given does not open this key`},
		{"JKS key password not given", "keytool.jks", testStorePass, "", ErrWrongKeyPassword, "not the store password: give the key password"},
		{"PKCS#12 truncated", "truncated.p12", testStorePass, "", ErrDamaged, "data truncated): it was likely cut short, or copied in text mode"},
		{"PKCS#12 copied in text mode", "textmode.p12", testStorePass, "", ErrDamaged, "copy it again in binary mode"},
		{"JKS truncated", "truncated.jks", testStorePass, "", ErrDamaged, "truncated at byte"},
		{"PKCS#12 wrong store password", "keytool-default.jks", "Wr0ng-pw", "", ErrWrongStorePassword, "MAC"},
		{"PKCS#12 wrong key password", "keytool-default.jks", testStorePass, "Wr0ng-pw", ErrWrongKeyPassword, "private key"},
		{"openssl PKCS#12 wrong password", "openssl.p12", "Wr0ng-pw", "", ErrWrongStorePassword, ""},
		{"JCEKS", "keytool.jceks", testStorePass, "", ErrUnsupportedFormat, "importkeystore"},
		{"garbage", "garbage.der", "", "", ErrUnsupportedFormat, ""},
		{"empty", "empty.der", "", "", ErrUnsupportedFormat, "empty"},
		{"JKS certificate count 0xFFFFFFFF", "jks-huge-count.jks", testStorePass, "", nil, "corrupt JKS"},
		{"JKS short private-key blob", "jks-short-key.jks", testStorePass, "", nil, "too short"},
		{"encrypted PEM key", "leaf-encrypted-key.pem", "", "", ErrUnsupportedFormat, "openssl pkey"},
		{"PEM key and certificate switched", "mismatched.pem", "", "", nil, "switched"},
		{"PEM key without certificate", "leaf-key.pem", "", "", nil, "without its certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(readFixture(t, tt.file), secret.FromString(tt.storePass), secret.FromString(tt.keyPass))
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			for _, pw := range []string{tt.storePass, tt.keyPass} {
				if len(pw) > 3 && strings.Contains(err.Error(), pw) {
					t.Errorf("error %q contains a password", err)
				}
			}
		})
	}
}

// TestParseTruncated parses every prefix of every fixture: each must give
// an error, never a panic or a hang.
func TestParseTruncated(t *testing.T) {
	files := []string{"keytool.jks", "keytool-default.jks", "keytool-chain.p12", "keytool-ec.p12", "openssl.p12", "openssl-legacy.p12",
		"leaf-pkcs8.pem", "ec-sec1.pem", "root.der", "jks-short-key.jks"}
	if testing.Short() {
		files = files[:2]
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data := readFixture(t, f)
			for n := 0; n < len(data); n++ {
				ks, err := Parse(data[:n], secret.FromString(testStorePass), secret.FromString(testKeyPass))
				if err == nil && f != "leaf-pkcs8.pem" && f != "ec-sec1.pem" {
					t.Fatalf("prefix of %d bytes parsed without error", n)
				}
				if err == nil && len(ks.Entries) == 0 {
					t.Fatalf("prefix of %d bytes: no error and no entries", n)
				}
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	data := make([]byte, MaxKeystoreSize+1)
	copy(data, magicJKS)
	if _, err := Parse(data, secret.Value{}, secret.Value{}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("Parse of %d bytes: err = %v, want a size error", len(data), err)
	}
}

func TestEntryLookup(t *testing.T) {
	ks, err := Parse(readFixture(t, "openssl.p12"), secret.FromString(testStorePass), secret.Value{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, alias, want string
		err               error
	}{
		{"exact mixed case", "MySP", "MySP", nil},
		{"lower case finds mixed", "mysp", "MySP", nil},
		{"missing", "other", "", ErrAliasNotFound},
		{"only private key", "", "MySP", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := ks.PrivateKeyEntry(tt.alias)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && e.Alias != tt.want {
				t.Errorf("alias = %q, want %q", e.Alias, tt.want)
			}
		})
	}
	trusted, err := Parse(readFixture(t, "keytool.jks"), secret.FromString(testStorePass), secret.FromString(testKeyPass))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trusted.PrivateKeyEntry("root"); !errors.Is(err, ErrNoPrivateKey) {
		t.Errorf("PrivateKeyEntry(trusted alias) err = %v, want ErrNoPrivateKey", err)
	}
}

func TestLoadFileNamesPath(t *testing.T) {
	path := filepath.Join("testdata", "keytool.jks")
	_, err := LoadFile(path, secret.FromString("Wr0ng-pw"), secret.Value{})
	if !errors.Is(err, ErrWrongStorePassword) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrWrongStorePassword naming %s", err, path)
	}
}

// TestJKSPasswordCharacters: Latin-1 passwords round-trip through JKS (as
// Java widens each char), others are refused with advice, never mangled.
func TestJKSPasswordCharacters(t *testing.T) {
	e, err := Generate(GenerateOptions{Alias: "a", DName: "CN=x", KeyAlg: "EC"})
	if err != nil {
		t.Fatal(err)
	}
	ks := &Keystore{Format: FormatJKS, Entries: []*Entry{e}}
	tests := []struct {
		name, pw, wantErr string
	}{
		{"ASCII", "changeit", ""},
		{"Latin-1", "pässwörd", ""},
		{"beyond Latin-1", "密码密码", "convert the keystore to PKCS#12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := ks.Marshal(secret.FromString(tt.pw), secret.Value{})
			if jksRefusedInFIPS(t, err) {
				return
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(data, secret.FromString(tt.pw), secret.Value{}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}

// TestParseChains lists a JKS whose key password differs with the store
// password alone, as keytool -list does, and refuses to write it back.
func TestParseChains(t *testing.T) {
	data := readFixture(t, "keytool.jks")
	ks, err := ParseChains(data, secret.FromString(testStorePass))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ks.Entry("saml2sp")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Sealed || e.Key != nil || len(e.Chain) != 1 {
		t.Errorf("entry: sealed %v key %v chain %d; want sealed, no key, chain 1", e.Sealed, e.Key, len(e.Chain))
	}
	if _, err := ks.Marshal(secret.FromString(testStorePass), secret.Value{}); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("Marshal of a sealed keystore: %v, want a refusal", err)
	}
	if r := Validate(ks, time.Now()); r.Valid() {
		t.Error("Validate of a sealed keystore says valid")
	}
	if _, err := ParseChains(data, secret.FromString("Wr0ng-pw")); !errors.Is(err, ErrWrongStorePassword) {
		t.Errorf("wrong store password: %v", err)
	}
	p12, err := ParseChains(readFixture(t, "openssl.p12"), secret.FromString(testStorePass))
	if err != nil || !p12.Entries[0].IsPrivateKey() {
		t.Errorf("PKCS#12 through ParseChains: %v", err)
	}
}
