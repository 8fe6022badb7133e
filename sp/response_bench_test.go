package sp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
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
// its session key, in the same run.
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
	b.Run("rsa.DecryptOAEP", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rsa.DecryptOAEP(crypto.SHA1.New(), nil, key, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
