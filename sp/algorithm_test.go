package sp

import (
	"crypto"
	"errors"
	"testing"
)

func TestLookupAlgorithm(t *testing.T) {
	tests := []struct {
		in         string
		name       string
		hash       crypto.Hash
		key        string
		deprecated bool
		err        error
	}{
		{in: RSASHA1, name: "rsa-sha1", hash: crypto.SHA1, key: KeyRSA, deprecated: true},
		{in: "rsa-sha256", name: "rsa-sha256", hash: crypto.SHA256, key: KeyRSA},
		{in: RSASHA384, name: "rsa-sha384", hash: crypto.SHA384, key: KeyRSA},
		{in: RSASHA512, name: "rsa-sha512", hash: crypto.SHA512, key: KeyRSA},
		{in: ECDSASHA256, name: "ecdsa-sha256", hash: crypto.SHA256, key: KeyEC},
		{in: "ecdsa-sha384", name: "ecdsa-sha384", hash: crypto.SHA384, key: KeyEC},
		{in: ECDSASHA512, name: "ecdsa-sha512", hash: crypto.SHA512, key: KeyEC},
		{in: "", err: ErrUnknownAlgorithm},
		{in: "http://www.w3.org/2001/04/xmldsig-more#rsa-md5", err: ErrUnknownAlgorithm},
		{in: "RSA-SHA256", err: ErrUnknownAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			a, err := LookupAlgorithm(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if a.Name != tt.name || a.Hash != tt.hash || a.Key != tt.key || a.Deprecated != tt.deprecated {
				t.Errorf("got %+v", a)
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	rsa2048 := credential(t, "rsa2048").Signer.Public()
	rsa1024 := credential(t, "rsa1024").Signer.Public()
	p256 := credential(t, "ecp256").Signer.Public()
	p384 := credential(t, "ecp384").Signer.Public()
	tests := []struct {
		name string
		alg  string
		pub  crypto.PublicKey
		ok   bool
	}{
		{"rsa-sha256 with rsa2048", RSASHA256, rsa2048, true},
		{"rsa-sha512 with rsa2048", RSASHA512, rsa2048, true},
		{"rsa-sha1 with rsa2048", RSASHA1, rsa2048, true},
		{"rsa-sha256 with rsa1024", RSASHA256, rsa1024, false},
		{"rsa-sha256 with p256", RSASHA256, p256, false},
		{"ecdsa-sha256 with p256", ECDSASHA256, p256, true},
		{"ecdsa-sha384 with p384", ECDSASHA384, p384, true},
		{"ecdsa-sha512 with p256", ECDSASHA512, p256, true},
		{"ecdsa-sha256 with rsa2048", ECDSASHA256, rsa2048, false},
		{"ecdsa-sha256 with nil", ECDSASHA256, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := LookupAlgorithm(tt.alg)
			if err != nil {
				t.Fatal(err)
			}
			err = a.CheckKey(tt.pub)
			if tt.ok && err != nil {
				t.Fatalf("CheckKey: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("CheckKey = %v, want ErrKeyMismatch", err)
			}
		})
	}
}

func TestDefaultAlgorithm(t *testing.T) {
	if a := DefaultAlgorithm(credential(t, "rsa2048").Signer.Public()); a.URI != RSASHA256 {
		t.Errorf("RSA default = %s", a.URI)
	}
	if a := DefaultAlgorithm(credential(t, "ecp256").Signer.Public()); a.URI != ECDSASHA256 {
		t.Errorf("EC default = %s", a.URI)
	}
}
