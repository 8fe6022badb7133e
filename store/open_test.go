package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// TestRecordOpener pins the one record opener: what each method returns and
// that every error names the record the same way.
func TestRecordOpener(t *testing.T) {
	rec := func(typ Type, file, alias, storePass, keyPass string) *Record {
		return &Record{ID: "0123456789abcdef0123456789abcdef", Name: "Partner " + file, Type: typ,
			Data: readFixture(t, file), Alias: alias,
			StorePassword: secret.FromString(storePass), KeyPassword: secret.FromString(keyPass)}
	}
	const named = `open certificate record 0123456789abcdef0123456789abcdef ("Partner `
	jks := rec(TypeJavaKeyStore, "sp.jks", "sp", sentinelStorePass, sentinelKeyPass)
	trust := rec(TypeTrustStoreCert, "cert.pem", "", "", "")

	t.Run("credential", func(t *testing.T) {
		c, err := jks.Credential(keys.UseSigning)
		if err != nil {
			t.Fatal(err)
		}
		if c.RecordID != jks.ID || c.RecordName != jks.Name || c.Use != keys.UseSigning || c.Role != keys.RoleCurrent ||
			c.Signer == nil || c.Leaf().Subject.CommonName != "sp.example.com" {
			t.Errorf("credential = %+v", c)
		}
	})
	t.Run("trust certificates", func(t *testing.T) {
		certs, err := trust.TrustCertificates()
		if err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "sp.example.com" {
			t.Fatalf("TrustCertificates = %v, %v", certs, err)
		}
	})
	t.Run("chains without the key password", func(t *testing.T) {
		ks, err := rec(TypeJavaKeyStore, "sp.jks", "sp", sentinelStorePass, "wrong").Chains()
		if err != nil || len(ks.Entries) != 1 || ks.Entries[0].Leaf() == nil {
			t.Fatalf("Chains = %v, %v", ks, err)
		}
	})

	for _, tc := range []struct {
		name    string
		open    func() error
		want    string
		wantErr error
	}{
		{"wrong store password", func() error {
			_, err := rec(TypeJavaKeyStore, "sp.jks", "sp", "wrong", sentinelKeyPass).KeyEntry()
			return err
		}, named + `sp.jks"): `, keys.ErrWrongStorePassword},
		{"unknown alias", func() error {
			_, err := rec(TypeJavaKeyStore, "sp.jks", "other", sentinelStorePass, sentinelKeyPass).Credential(keys.UseSigning)
			return err
		}, named + `sp.jks") alias "other": `, keys.ErrAliasNotFound},
		{"no private key", func() error { _, err := trust.Credential(keys.UseEncryption); return err },
			named + `cert.pem") alias "": keystore: no private-key entry: the encryption keystore must hold a private key`, keys.ErrNoPrivateKey},
		{"keystore as trust store", func() error { _, err := jks.TrustCertificates(); return err },
			`certificate record 0123456789abcdef0123456789abcdef ("Partner sp.jks") is a java_key_store, not a trust_store_cert`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.open()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want errors.Is %v", err, tc.wantErr)
			}
			assertNoSentinel(t, "opener error", err.Error())
		})
	}
}
