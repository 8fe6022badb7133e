package pkcs11

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     URI
		err      error
	}{
		{"token and object", "pkcs11:token=samlkeyd;object=signing-2027", URI{Token: "samlkeyd", Object: "signing-2027"}, nil},
		{"id percent-encoded", "pkcs11:token=samlkeyd;object=signing-2027;id=%01%02", URI{Token: "samlkeyd", Object: "signing-2027", ID: []byte{1, 2}}, nil},
		{"all token attributes", "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;serial=0123abcd;model=SoftHSM%20v2;type=private",
			URI{Token: "My Token", Manufacturer: "SoftHSM project", Serial: "0123abcd", Model: "SoftHSM v2", Type: "private"}, nil},
		{"library and slot attributes ignored", "pkcs11:library-manufacturer=x;slot-id=3;token=t", URI{Token: "t"}, nil},
		{"vendor attribute ignored", "pkcs11:token=t;x-vendor=1?x-q=2", URI{Token: "t"}, nil},
		{"empty path", "pkcs11:", URI{}, nil},
		{"wrong scheme", "pkcs12:token=t", URI{}, ErrBadURI},
		{"unknown attribute", "pkcs11:token=t;colour=red", URI{}, errUnsupported},
		{"repeated attribute", "pkcs11:token=a;token=b", URI{}, ErrBadURI},
		{"bad escape", "pkcs11:token=a%zz", URI{}, ErrBadURI},
		{"no value", "pkcs11:token", URI{}, ErrBadURI},
		{"bad type", "pkcs11:token=t;type=secret", URI{}, ErrBadURI},
		{"pin-value refused", "pkcs11:token=t?pin-value=1234", URI{}, ErrPINInURI},
		{"pin-source refused", "pkcs11:token=t?pin-source=file:/etc/pin", URI{}, ErrPINInURI},
		{"module-path refused", "pkcs11:token=t?module-path=/usr/lib/x.so", URI{}, ErrBadURI},
		{"too long", "pkcs11:token=" + strings.Repeat("a", MaxURILen), URI{}, ErrBadURI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseURI(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("ParseURI(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "1234") {
				t.Errorf("error shows the PIN: %v", err)
			}
			if tc.err == nil && (got.String() != tc.want.String() || !bytes.Equal(got.ID, tc.want.ID)) {
				t.Errorf("ParseURI(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestURIStringRoundTrip(t *testing.T) {
	u := URI{Token: "a;b?c", Object: "sign 2027/%", ID: []byte{0, 0xff, 'a'}, Serial: "1"}
	s := u.String()
	if want := "pkcs11:token=a%3Bb%3Fc;serial=1;object=sign%202027%2F%25;id=%00%FF%61"; s != want {
		t.Fatalf("String() = %q, want %q", s, want)
	}
	back, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != s || !bytes.Equal(back.ID, u.ID) || back.Object != u.Object || back.Token != u.Token {
		t.Fatalf("round trip: %+v, want %+v", back, u)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"pkcs11:token=samlkeyd;object=signing-2027;id=%01%02",
		"pkcs11:token=t;manufacturer=m;serial=s;model=x;type=cert?x-a=b",
		"pkcs11:token=t?pin-value=secret",
		"pkcs11:id=%zz", "pkcs11:;;;", "pkcs11:a==b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if strings.Contains(s, "pin-value=") && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes a URI with a PIN: %v", err)
			}
			return
		}
		// What parses prints to a URI that parses to the same value.
		back, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q).String() = %q does not parse: %v", s, u.String(), err)
		}
		if back.String() != u.String() {
			t.Fatalf("round trip of %q: %q then %q", s, u.String(), back.String())
		}
	})
}
