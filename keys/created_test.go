package keys

import (
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// TestCreated: keytool's creation dates are read from JKS entries (also
// sealed ones, read with ParseChains, as keystore list does) and from the
// "Time …" local key ids keytool writes into PKCS#12 keys.
func TestCreated(t *testing.T) {
	sp, kp := secret.FromString(testStorePass), secret.FromString(testKeyPass)
	full, err := Parse(readFixture(t, "keytool.jks"), sp, kp)
	if err != nil {
		t.Fatal(err)
	}
	chains, err := ParseChains(readFixture(t, "keytool.jks"), sp)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range chains.Entries {
		if e.Created.IsZero() || !e.Created.Equal(full.Entries[i].Created) {
			t.Errorf("JKS alias %q (sealed %v): created %v, Parse says %v", e.Alias, e.Sealed, e.Created, full.Entries[i].Created)
		}
	}
	for _, tt := range []struct {
		file string
		want bool
	}{{"keytool-default.jks", true}, {"keytool-ec.p12", true}, {"openssl.p12", false}} {
		ks, err := Parse(readFixture(t, tt.file), sp, secret.Value{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := ks.PrivateKeyEntry("")
		if err != nil {
			t.Fatal(err)
		}
		if got := !e.Created.IsZero(); got != tt.want || (got && e.Created.Year() < 2020) {
			t.Errorf("%s: key created %v, want a keytool date: %v", tt.file, e.Created, tt.want)
		}
	}
}

func TestKeytoolTime(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want time.Time
	}{
		{"Time 1763800000000", time.UnixMilli(1763800000000).UTC()},
		{"Time -5", time.Time{}}, {"Time x", time.Time{}}, {"\x01\x02", time.Time{}}, {"", time.Time{}},
	} {
		if got := keytoolTime([]byte(tt.id)); !got.Equal(tt.want) {
			t.Errorf("keytoolTime(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
