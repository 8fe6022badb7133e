package store

import (
	"crypto/rand"
	"testing"

	"github.com/samlkeyd/samlkeyd/secret"
)

// FuzzDecodeMasterKey: any key file content gives a 32-byte key or an
// error, never a panic.
func FuzzDecodeMasterKey(f *testing.F) {
	f.Add(readFixture(f, "master.key"))
	f.Add([]byte("4242424242424242424242424242424242424242424242424242424242424242"))
	f.Add([]byte(""))
	f.Add([]byte("c2hvcnQ="))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeMasterKey(b)
		if err == nil && len(k.Reveal()) != masterKeySize {
			t.Fatalf("decoded a %d-byte key", len(k.Reveal()))
		}
	})
}

// FuzzUnseal: a sealed column read back from a tampered database is an
// error (ErrWrongMasterKey), never a panic or garbage.
func FuzzUnseal(f *testing.F) {
	master, err := decodeMasterKey(testMasterKey.Reveal())
	if err != nil {
		f.Fatal(err)
	}
	s := &Store{master: master, rand: rand.Reader}
	sealed, err := s.seal([]byte(sentinelStorePass), "record x store_password")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed, "record x store_password")
	f.Add(sealed[:10], "record x store_password")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, b []byte, aad string) {
		v, err := s.unseal(b, aad)
		if err != nil {
			return
		}
		// Only a genuine ciphertext under its own binding opens. (The worker
		// process seals with its own nonce, so b need not equal sealed.)
		if len(b) != len(sealed) || aad != "record x store_password" || !v.Equal(secret.FromString(sentinelStorePass)) {
			t.Fatalf("unsealed a forged value")
		}
	})
}

// FuzzInspect: whatever file a user adds, under any type, AddRecord's
// validation refuses it with an error or accepts it with facts; it never
// panics.
func FuzzInspect(f *testing.F) {
	for _, name := range []string{"sp.jks", "sp.p12", "cert.pem", "keypair.pem", "legacy.der"} {
		f.Add(readFixture(f, name), uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, typ uint8) {
		types := Types()
		tp := types[int(typ)%len(types)]
		facts, err := inspect(tp, data, "", secret.FromString(sentinelStorePass), secret.FromString(sentinelKeyPass))
		if err == nil && (facts.fingerprint == "" || facts.notAfter.IsZero()) {
			t.Fatalf("accepted %s without a certificate's facts", tp)
		}
	})
}
