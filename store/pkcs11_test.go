package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// TestPKCS11Record: a pkcs11 record stores the URI, the PIN sealed and the
// chain its caller read from the token; it is a keystore a property may
// select, lists its chain without a token, and never opens as a file.
func TestPKCS11Record(t *testing.T) {
	e, err := keys.Generate(keys.GenerateOptions{Alias: "k", KeyAlg: "RSA", KeySize: 2048, ValidityDays: 30, DName: "CN=token"})
	if err != nil {
		t.Fatal(err)
	}
	const uri, pin = "pkcs11:token=samlkeyd;object=signing-2027", "Sentinel-PIN-4711"
	forEachBackend(t, func(t *testing.T, o Options) {
		ctx := context.Background()
		s := open(t, o)
		for _, tc := range []struct {
			name string
			r    NewRecord
		}{
			{"pin in the uri", NewRecord{Data: []byte(uri + "?pin-value=1234"), Chain: e.Chain}},
			{"no key in the uri", NewRecord{Data: []byte("pkcs11:token=samlkeyd"), Chain: e.Chain}},
			{"not a uri", NewRecord{Data: []byte("token=samlkeyd"), Chain: e.Chain}},
			{"no chain", NewRecord{Data: []byte(uri)}},
			{"alias", NewRecord{Data: []byte(uri), Chain: e.Chain, Alias: "k"}},
		} {
			tc.r.Name, tc.r.Type, tc.r.StorePassword = "bad "+tc.name, TypePKCS11, secret.FromString(pin)
			if _, err := s.AddRecord(ctx, "test", tc.r); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: AddRecord = %v, want ErrInvalid", tc.name, err)
			} else if strings.Contains(err.Error(), pin) {
				t.Errorf("%s: error shows the PIN: %v", tc.name, err)
			}
		}
		added, err := s.AddRecord(ctx, "test", NewRecord{Name: "token key", Type: TypePKCS11, Data: []byte(uri),
			StorePassword: secret.FromString(pin), Chain: e.Chain})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Record(ctx, added.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Format != FormatPKCS11 || r.FingerprintSHA256 != keys.FingerprintSHA256(e.Chain[0]) ||
			!r.NotAfter.Equal(e.Chain[0].NotAfter.UTC()) || string(r.StorePassword.Reveal()) != pin {
			t.Errorf("record = %+v", r)
		}
		if u, err := r.PKCS11URI(); err != nil || u.String() != uri {
			t.Errorf("PKCS11URI = %v, %v", u, err)
		}
		if _, err := r.Parse(); !errors.Is(err, ErrTokenRecord) {
			t.Errorf("Parse = %v, want ErrTokenRecord", err)
		}
		ks, err := r.Chains()
		if err != nil || len(ks.Entries) != 1 || !ks.Entries[0].Chain[0].Equal(e.Chain[0]) {
			t.Errorf("Chains = %v, %v", ks, err)
		}
		if b, _ := json.Marshal(r); strings.Contains(string(b), pin) {
			t.Errorf("JSON shows the PIN: %s", b)
		}
		if err := s.SetProperty(ctx, "test", PropSigningKeystore, r.ID); err != nil {
			t.Errorf("a pkcs11 record is refused as the signing keystore: %v", err)
		}
	})
}
