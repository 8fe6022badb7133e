package sp

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// respNoReplay lets a benchmark verify the same response again and again.
type respNoReplay struct{}

func (respNoReplay) Record(context.Context, string, time.Time, time.Time) (bool, error) {
	return false, nil
}

// BenchmarkResponse measures Verify on a typical response — one signed
// assertion with 10 attributes, encrypted by xmlsec1 with RSA-2048 OAEP
// (rsa-oaep-mgf1p) and AES-256-GCM — against the bare rsa.DecryptOAEP of
// its session key, and against the floor (respFloor) as a ratio. Issue
// 13's target: x-floor ≤ 2.2.
func BenchmarkResponse(b *testing.B) {
	xmlsec := tooltest.Path(b, "xmlsec1")
	// crewjam's IdP adds 3 attributes of its own (mail, affiliation, eppn).
	doc := xmlsecResponse(b, xmlsec, xmlsecOpts{keyTransport: KeyTransportRSAOAEPMGF1P, content: ContentAES256GCM,
		sessionKey: respSessAES, to: "enc-current"}, 7)
	s := respSettings(b)
	s.Replay = respNoReplay{}
	v := respValidator(b, s)
	in := base64.StdEncoding.EncodeToString(doc)
	a, err := v.Verify(context.Background(), "corp", in, respRequestID)
	if err != nil {
		b.Fatal(err)
	}
	if len(a.Attributes) != 10 {
		b.Fatalf("%d attributes, want 10", len(a.Attributes))
	}
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := v.Verify(context.Background(), "corp", in, respRequestID); err != nil {
				b.Fatal(err)
			}
		}
	})
	key := respCred(b, "enc-current", "current").Signer.(*rsa.PrivateKey)
	ct, err := rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, &key.PublicKey, make([]byte, 32), nil)
	if err != nil {
		b.Fatal(err)
	}
	floor := respFloor(b, key, ct, len(doc))
	// Interleaved, so that a loaded machine slows both alike.
	b.Run("ratio", func(b *testing.B) {
		var tv, tf time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := v.Verify(context.Background(), "corp", in, respRequestID); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			floor()
			tv, tf = tv+t1.Sub(t0), tf+time.Since(t1)
		}
		b.ReportMetric(float64(tv)/float64(tf), "x-floor")
		b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "floor-ns/op")
	})
	b.Run("rsa.DecryptOAEP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.DecryptOAEP(crypto.SHA1.New(), nil, key, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// respFloor returns the bare work of a typical response: one RSA-OAEP
// decryption of the session key, one RSA PKCS#1 v1.5 SHA-256 signature
// verification, one AES-256-GCM open of size bytes.
func respFloor(b *testing.B, key *rsa.PrivateKey, wrapped []byte, size int) func() {
	_, idpCert := respKey(b, "idp")
	idpKey, _ := respKey(b, "idp")
	digest := sha256.Sum256([]byte("SignedInfo"))
	sig, err := rsa.SignPKCS1v15(nil, idpKey.(*rsa.PrivateKey), crypto.SHA256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	block, _ := aes.NewCipher(make([]byte, 32))
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	sealed := aead.Seal(nil, nonce, make([]byte, size), nil)
	pub := idpCert.PublicKey.(*rsa.PublicKey)
	return func() {
		if _, err := rsa.DecryptOAEP(crypto.SHA1.New(), nil, key, wrapped, nil); err != nil {
			b.Fatal(err)
		}
		d := sha256.Sum256([]byte("SignedInfo"))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
			b.Fatal(err)
		}
		if _, err := aead.Open(nil, nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}
