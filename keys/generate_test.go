package keys

import (
	"errors"
	"testing"
	"testing/iotest"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// TestGenerateKeystore: the keystore opens with the passwords it reports,
// in the format asked, holding the entry it returned; an empty store
// password becomes a random one and an empty key password the store's.
func TestGenerateKeystore(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name                string
		format              Format
		storePass, keyPass  secret.Value
		wantRandom, wantKey bool // store password random; key password = store password
	}{
		{"pkcs12, random password", FormatPKCS12, secret.Value{}, secret.Value{}, true, true},
		{"jks, both passwords given", FormatJKS, secret.FromString("Store-Pass-1"), secret.FromString("Key-Pass-2"), false, false},
		{"jks, key password defaults to the store's", FormatJKS, secret.FromString("Store-Pass-1"), secret.Value{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := GenerateKeystore(KeystoreOptions{
				GenerateOptions: GenerateOptions{Alias: "saml2sp", KeyAlg: "EC", DName: "CN=sp.example.com", ValidityDays: 30,
					Now: func() time.Time { return now }},
				Format: tc.format, StorePassword: tc.storePass, KeyPassword: tc.keyPass,
			})
			if tc.format == FormatJKS && jksRefusedInFIPS(t, err) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantRandom && len(g.StorePassword.Reveal()) != 32 {
				t.Errorf("random store password has %d characters, want 32", len(g.StorePassword.Reveal()))
			}
			if !tc.wantRandom && !g.StorePassword.Equal(tc.storePass) {
				t.Error("the given store password was replaced")
			}
			if tc.wantKey != g.KeyPassword.Equal(g.StorePassword) {
				t.Errorf("key password equals store password: %v, want %v", !tc.wantKey, tc.wantKey)
			}
			ks, err := Parse(g.Data, g.StorePassword, g.KeyPassword)
			if err != nil {
				t.Fatalf("the keystore does not open with its passwords: %v", err)
			}
			e, err := ks.PrivateKeyEntry("saml2sp")
			if err != nil {
				t.Fatal(err)
			}
			if ks.Format != tc.format || string(e.Leaf().Raw) != string(g.Entry.Leaf().Raw) || !e.Leaf().NotAfter.Equal(now.Add(30*24*time.Hour)) {
				t.Fatalf("format %s, same certificate %v, not after %s", ks.Format, string(e.Leaf().Raw) == string(g.Entry.Leaf().Raw), e.Leaf().NotAfter)
			}
		})
	}
}

func TestGenerateKeystoreErrors(t *testing.T) {
	o := GenerateOptions{Alias: "saml2sp", KeyAlg: "EC", DName: "CN=x"}
	if _, err := GenerateKeystore(KeystoreOptions{GenerateOptions: o, Format: FormatPEM}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("PEM: %v, want ErrUnsupportedFormat", err)
	}
	o.Rand = iotest.ErrReader(errors.New("no entropy"))
	if _, err := GenerateKeystore(KeystoreOptions{GenerateOptions: o, Format: FormatPKCS12}); err == nil {
		t.Error("generated a keystore without randomness from the caller's reader")
	}
	if _, err := RandomPassword(o.Rand); err == nil {
		t.Error("RandomPassword ignored its reader's error")
	}
}
