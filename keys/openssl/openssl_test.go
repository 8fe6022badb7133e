package openssl

//lint:file-ignore SA1019 PKCS#1 v1.5 decryption is what sp allows with allow_rsa15; it is tested.

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // registers the hashes the tests use
	_ "crypto/sha256"
	_ "crypto/sha512"
	"testing"
)

func testKey(t testing.TB) (*rsa.PrivateKey, SignerDecrypter) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := NewRSA(k)
	if err != nil {
		t.Fatalf("NewRSA: %v", err)
	}
	return k, sd
}

func TestBackendMatchesBuild(t *testing.T) {
	_, sd := testKey(t)
	_, isGo := sd.(*rsa.PrivateKey)
	if isGo != (Backend() == "go") {
		t.Fatalf("Backend() = %q but NewRSA returned %T", Backend(), sd)
	}
	t.Logf("backend %s", Backend())
}

// TestSignMatchesCryptoRSA: PKCS#1 v1.5 is deterministic, so the backend's
// signature must equal crypto/rsa's byte for byte; PSS verifies.
func TestSignMatchesCryptoRSA(t *testing.T) {
	k, sd := testKey(t)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		hh := h.New()
		hh.Write([]byte("<samlp:AuthnRequest/>"))
		d := hh.Sum(nil)
		want, err := rsa.SignPKCS1v15(nil, k, h, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := sd.Sign(rand.Reader, d, h)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%v: PKCS#1 v1.5 signature differs from crypto/rsa's", h)
		}
		pss, err := sd.Sign(rand.Reader, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(&k.PublicKey, h, d, pss, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
			t.Errorf("%v: PSS: %v", h, err)
		}
	}
	if _, err := sd.Sign(rand.Reader, make([]byte, 20), crypto.SHA256); err == nil {
		t.Error("a 20-byte digest signed as SHA-256")
	}
}

// TestDecryptRoundTrip: crypto/rsa encrypts, the backend decrypts: OAEP
// with the digest/MGF pairs XML Encryption uses, and PKCS#1 v1.5.
func TestDecryptRoundTrip(t *testing.T) {
	k, sd := testKey(t)
	msg := []byte("0123456789abcdef0123456789abcdef")
	for _, tc := range []struct {
		name  string
		hash  crypto.Hash
		mgf   crypto.Hash
		label []byte
	}{
		{"SHA-1 MGF1-SHA-1 (rsa-oaep-mgf1p)", crypto.SHA1, crypto.SHA1, nil},
		{"SHA-256 MGF1-SHA-1 (xmlenc11 rsa-oaep default MGF)", crypto.SHA256, crypto.SHA1, nil},
		{"SHA-256 MGF1-SHA-256 with label", crypto.SHA256, crypto.SHA256, []byte("L")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := &rsa.OAEPOptions{Hash: tc.hash, MGFHash: tc.mgf, Label: tc.label}
			ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, &k.PublicKey, msg, o)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := sd.Decrypt(rand.Reader, ct, o)
			if err != nil || !bytes.Equal(pt, msg) {
				t.Fatalf("Decrypt = %x, %v", pt, err)
			}
			ct[10] ^= 1
			if _, err := sd.Decrypt(rand.Reader, ct, o); err == nil {
				t.Fatal("a tampered OAEP ciphertext decrypted")
			}
		})
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, &k.PublicKey, msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []crypto.DecrypterOpts{nil, &rsa.PKCS1v15DecryptOptions{}, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32}} {
		if pt, err := sd.Decrypt(rand.Reader, ct, opts); err != nil || !bytes.Equal(pt, msg) {
			t.Errorf("PKCS#1 v1.5 %T: %x, %v", opts, pt, err)
		}
	}
	bad := make([]byte, len(ct))
	bad[len(bad)-1] = 1
	a, errA := sd.Decrypt(rand.Reader, bad, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
	b, errB := sd.Decrypt(rand.Reader, bad, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
	if errA != nil || errB != nil || len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("bad padding with SessionKeyLen: %x %v / %x %v, want two random 32-byte keys", a, errA, b, errB)
	}
}
