package keys

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/samlkeyd/samlkeyd/secret"
)

// FuzzParse feeds arbitrary bytes to Parse and ParseChains with the
// fixtures' passwords:
// it must return, never panic or exhaust memory. Seeded with every fixture.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		if filepath.Ext(p) == ".sh" || testing.Short() && filepath.Base(p) == "kdf-bomb.p12" { // the bomb costs its KDF budget, ~1 s
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := Parse(data, secret.FromString(testStorePass), secret.FromString(testKeyPass))
		if err == nil && ks == nil {
			t.Fatal("nil keystore without error")
		}
		if err == nil {
			_ = Validate(ks, ks.Entries[0].Leaf().NotBefore)
		}
		if ks, err := ParseChains(data, secret.FromString(testStorePass)); err == nil && ks == nil {
			t.Fatal("ParseChains: nil keystore without error")
		}
	})
}

// FuzzParseCertificates feeds arbitrary bytes to ParseCertificates.
func FuzzParseCertificates(f *testing.F) {
	for _, name := range []string{"chain.pem", "root.der", "garbage.der"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates without error")
		}
	})
}
