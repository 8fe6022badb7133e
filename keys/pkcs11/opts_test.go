package pkcs11

//lint:file-ignore SA1019 the mapping of the PKCS#1 v1.5 options sp uses with allow_rsa15 is tested.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"reflect"
	"testing"
)

func TestSignOptsMapping(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d32, d20 := make([]byte, 32), make([]byte, 20)
	for _, tc := range []struct {
		name   string
		pub    crypto.PublicKey
		digest []byte
		opts   crypto.SignerOpts
		want   crypto.SignerOpts
		err    error
	}{
		{"RSA PKCS#1 v1.5 SHA-256", &rk.PublicKey, d32, crypto.SHA256, crypto.SHA256, nil},
		{"RSA PKCS#1 v1.5 SHA-1", &rk.PublicKey, d20, crypto.SHA1, crypto.SHA1, nil},
		{"RSA-PSS equals hash", &rk.PublicKey, d32, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, nil},
		{"RSA-PSS auto becomes equals hash", &rk.PublicKey, d32, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, nil},
		{"ECDSA SHA-256", &ek.PublicKey, d32, crypto.SHA256, crypto.SHA256, nil},
		{"ECDSA with PSS options", &ek.PublicKey, d32, &rsa.PSSOptions{Hash: crypto.SHA256}, nil, ErrUnsupportedOpt},
		{"MD5 refused", &rk.PublicKey, make([]byte, 16), crypto.MD5, nil, ErrUnsupportedOpt},
		{"no hash (raw) refused", &rk.PublicKey, d32, crypto.Hash(0), nil, ErrUnsupportedOpt},
		{"digest length mismatch", &rk.PublicKey, d20, crypto.SHA256, nil, errAny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signOpts(tc.pub, tc.digest, tc.opts)
			if tc.err == errAny && err != nil {
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("signOpts = %#v, want %#v", got, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestDecryptOptsMapping(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts crypto.DecrypterOpts
		want decryptMode
		err  error
	}{
		{"nil is PKCS#1 v1.5", nil, decryptMode{}, nil},
		{"PKCS#1 v1.5", &rsa.PKCS1v15DecryptOptions{}, decryptMode{}, nil},
		{"PKCS#1 v1.5 session key", &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 16}, decryptMode{sessionKeyLen: 16}, nil},
		{"OAEP SHA-1 MGF1-SHA-1 (rsa-oaep-mgf1p)", &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1},
			decryptMode{oaep: &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}}, nil},
		{"OAEP SHA-256 MGF unset", &rsa.OAEPOptions{Hash: crypto.SHA256, Label: []byte("l")},
			decryptMode{oaep: &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256, Label: []byte("l")}}, nil},
		{"OAEP SHA-256 MGF1-SHA-256", &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256},
			decryptMode{oaep: &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}}, nil},
		{"OAEP SHA-256 MGF1-SHA-1 refused", &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}, decryptMode{}, ErrUnsupportedOpt},
		{"OAEP MD5 refused", &rsa.OAEPOptions{Hash: crypto.MD5}, decryptMode{}, ErrUnsupportedOpt},
		{"other options refused", crypto.SHA256, decryptMode{}, ErrUnsupportedOpt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decryptOpts(tc.opts)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decryptOpts = %+v, want %+v", got, tc.want)
			}
		})
	}
}
