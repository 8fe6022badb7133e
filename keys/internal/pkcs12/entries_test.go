package pkcs12

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

func selfSigned(t *testing.T, cn string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return key, c
}

// TestEncodeDecodeEntries round-trips two keys and a trusted certificate
// with their aliases, with a key password that differs from the store's.
func TestEncodeDecodeEntries(t *testing.T) {
	k1, c1 := selfSigned(t, "one")
	k2, c2 := selfSigned(t, "two")
	_, ca := selfSigned(t, "ca")
	enc := Modern2023.WithIterations(100)
	data, err := enc.EncodeEntries([]KeyEntry{{Alias: "One", Key: k1, Chain: []*x509.Certificate{c1}}, {Alias: "two", Key: k2, Chain: []*x509.Certificate{c2}}},
		[]TrustStoreEntry{{Cert: ca, FriendlyName: "Root"}}, []byte("store"), []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	bags, err := DecodeEntries(data, []byte("store"), []byte("key"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, b := range bags {
		names[b.FriendlyName]++
		if b.FriendlyName == "Root" && (!b.Trusted || b.Cert == nil) {
			t.Error("trusted bag lost its trust attribute")
		}
	}
	if names["One"] != 2 || names["two"] != 2 || names["Root"] != 1 {
		t.Errorf("friendly names %v, want One and two on key and cert, Root once", names)
	}
	if _, err := DecodeEntries(data, []byte("wrong"), []byte("key")); !errors.Is(err, ErrIncorrectPassword) {
		t.Errorf("wrong store password: %v", err)
	}
	if _, err := DecodeEntries(data, []byte("store"), []byte("wrong")); !errors.Is(err, ErrKeyPassword) {
		t.Errorf("wrong key password: %v", err)
	}
}

// TestIterationCap: a file asking for more KDF iterations than
// MaxIterations is refused before any derivation.
func TestIterationCap(t *testing.T) {
	k, c := selfSigned(t, "one")
	data, err := Modern2023.WithIterations(10).EncodeEntries([]KeyEntry{{Alias: "a", Key: k, Chain: []*x509.Certificate{c}}}, nil, []byte("pw"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	var pfx pfxPdu
	if err := unmarshal(data, &pfx); err != nil {
		t.Fatal(err)
	}
	pfx.MacData.Iterations = 1 << 30
	crafted, err := asn1.Marshal(pfx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = DecodeEntries(crafted, []byte("pw"), []byte("pw"))
	var ni NotImplementedError
	if !errors.As(err, &ni) {
		t.Fatalf("err = %v, want the iteration cap", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusal took %v", d)
	}
}
