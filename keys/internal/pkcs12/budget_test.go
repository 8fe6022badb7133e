// Copyright 2026 the samlkeyd authors. Use of this source code is governed
// by the BSD-style license in the LICENSE file.

package pkcs12

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"flag"
	"hash"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

var kdfBombPath = flag.String("kdf-bomb", "", "TestWriteKDFBomb writes the KDF bomb fixture here (see keys/testdata/gen.sh)")

// kdfBomb is the file of issue 13: one PKCS#8 shrouded key bag (PBES2,
// PBKDF2-HMAC-SHA-256 with the given iterations, AES-256) repeated copies
// times in a plain SafeContents, a certificate, a SHA-256 MAC with one
// iteration. Password "storepass1". Building it costs one derivation.
func kdfBomb(tb testing.TB, iterations, copies int) []byte {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kdf bomb"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	enc := &Encoder{macAlgorithm: oidSHA256, keyAlgorithm: oidPBES2, macIterations: 1,
		encryptionIterations: iterations, saltLen: 16, rand: rand.Reader}
	data, err := enc.Encode(key, cert, nil, "storepass1")
	if err != nil {
		tb.Fatal(err)
	}
	var pfx pfxPdu
	var content []byte
	var safe []contentInfo
	var plain []byte
	var bags []safeBag
	for _, step := range []func() error{
		func() error { return unmarshal(data, &pfx) },
		func() error { return unmarshal(pfx.AuthSafe.Content.Bytes, &content) },
		func() error { return unmarshal(content, &safe) },
		func() error { return unmarshal(safe[1].Content.Bytes, &plain) },
		func() error { return unmarshal(plain, &bags) },
	} {
		if err := step(); err != nil {
			tb.Fatal(err)
		}
	}
	many := make([]safeBag, copies)
	for i := range many {
		many[i] = bags[0]
	}
	if safe[1], err = makeSafeContents(rand.Reader, many, nil, nil, 0, 0); err != nil {
		tb.Fatal(err)
	}
	if content, err = asn1.Marshal(safe); err != nil {
		tb.Fatal(err)
	}
	pw, _ := bmpStringZeroTerminated("storepass1")
	if err := computeMac(&pfx.MacData, content, pw); err != nil {
		tb.Fatal(err)
	}
	pfx.AuthSafe.Content.FullBytes = nil // else Marshal writes the old content
	if pfx.AuthSafe.Content.Bytes, err = asn1.Marshal(content); err != nil {
		tb.Fatal(err)
	}
	if data, err = asn1.Marshal(pfx); err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestKDFBudget: a file whose derivations together pass the budget is
// refused with an error naming the budget, having spent no more than the
// budget (the refused derivation is not run), and the work of a normal file
// is counted exactly.
func TestKDFBudget(t *testing.T) {
	const iterations, copies = 2048, 30
	perBag := int64(iterations * pbkdf2Weight[32]) // one AES-256 key from PBKDF2-HMAC-SHA-256
	scaled := kdfBomb(t, iterations, copies)
	b := &kdfBudget{limit: 5 * perBag}
	_, err := b.decodeEntries(scaled, []byte("storepass1"), []byte("storepass1"))
	var be *KDFBudgetError
	if !errors.As(err, &be) || be.Budget != 5*perBag {
		t.Fatalf("err = %v, want a KDFBudgetError with budget %d", err, 5*perBag)
	}
	if !strings.Contains(err.Error(), "budget of "+strconv.FormatInt(5*perBag, 10)) {
		t.Errorf("error %q does not name the budget", err)
	}
	if b.spent > b.limit || b.spent != 1+4*perBag { // the MAC, then four bags; the fifth would pass
		t.Errorf("spent %d of %d, want the MAC and 4 bags (%d)", b.spent, b.limit, 1+4*perBag)
	}
	// With the default budget the same file decodes (and keys refuses it
	// later for its duplicate keys).
	if _, err := DecodeEntries(scaled, []byte("storepass1"), []byte("storepass1")); err != nil {
		t.Fatalf("30 bags of 2048 iterations under the default budget: %v", err)
	}

	k, c := selfSigned(t, "one")
	data, err := Modern2023.WithIterations(1000).EncodeEntries([]KeyEntry{{Alias: "a", Key: k, Chain: []*x509.Certificate{c}}}, nil, []byte("pw"), []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	b = newKDFBudget()
	if _, err := b.decodeEntries(data, []byte("pw"), []byte("pw")); err != nil {
		t.Fatal(err)
	}
	// MAC: PKCS#12 KDF SHA-256; certificates and key: PBKDF2-HMAC-SHA-256.
	if want := 1000*pkcs12KDFWeight[32] + 2*1000*pbkdf2Weight[32]; b.spent != want {
		t.Errorf("spent %d, want %d", b.spent, want)
	}
}

// TestKDFBudgetIssueFile: the file of the issue (30 bags of 2^20
// iterations, 6 s to refuse before) is refused within the budget.
func TestKDFBudgetIssueFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: costs up to the KDF budget (~2 s)")
	}
	data := kdfBomb(t, MaxIterations, 30)
	b := newKDFBudget()
	_, err := b.decodeEntries(data, []byte("storepass1"), []byte("storepass1"))
	var be *KDFBudgetError
	if !errors.As(err, &be) || be.Budget != KDFBudget {
		t.Fatalf("err = %v, want a KDFBudgetError", err)
	}
	if b.spent > KDFBudget {
		t.Fatalf("spent %d, over the budget %d", b.spent, KDFBudget)
	}
	t.Logf("refused after %d of %d units (%d bytes)", b.spent, KDFBudget, len(data))
}

// TestWriteKDFBomb writes keys/testdata/kdf-bomb.p12 when -kdf-bomb is given.
func TestWriteKDFBomb(t *testing.T) {
	if *kdfBombPath == "" {
		t.Skip("no -kdf-bomb path")
	}
	if err := os.WriteFile(*kdfBombPath, kdfBomb(t, MaxIterations, 30), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkKDFIteration measures one iteration of each derivation for one
// output block: the basis of the weights in budget.go (ns/iter divided by
// the PKCS#12-KDF SHA-256 figure).
func BenchmarkKDFIteration(b *testing.B) {
	const r = 1 << 14
	salt, pw := make([]byte, 16), []byte{0, 'p', 0, 'w', 0, 0}
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"pkcs12kdf-sha1", func() { pbkdf(sha1Sum, 20, 64, salt, pw, r, 1, 20) }},
		{"pkcs12kdf-sha256", func() { pbkdf(sha256Sum, 32, 64, salt, pw, r, 3, 32) }},
		{"pkcs12kdf-sha512", func() { pbkdf(sha512Sum, 64, 128, salt, pw, r, 3, 64) }},
		{"pbkdf2-sha1", func() { _, _ = (*kdfBudget)(nil).pbkdf2Key(pw, salt, r, 20, sha1.New) }},
		{"pbkdf2-sha256", func() { _, _ = (*kdfBudget)(nil).pbkdf2Key(pw, salt, r, 32, sha256.New) }},
		{"pbkdf2-sha512", func() { _, _ = (*kdfBudget)(nil).pbkdf2Key(pw, salt, r, 64, func() hash.Hash { return sha512.New() }) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/r, "ns/iter")
		})
	}
}

// BenchmarkKDFBomb is the time to refuse the issue's file: bounded by the
// budget, where it was 5.4-6 s before.
func BenchmarkKDFBomb(b *testing.B) {
	data := kdfBomb(b, MaxIterations, 30)
	for b.Loop() {
		if _, err := DecodeEntries(data, []byte("storepass1"), []byte("storepass1")); err == nil {
			b.Fatal("the bomb decoded")
		}
	}
}

// TestKDFBudgetRealFiles: the keystores keytool and openssl write (see
// keys/testdata/gen.sh) decode well within the budget.
func TestKDFBudgetRealFiles(t *testing.T) {
	for _, name := range []string{"keytool-default.jks", "keytool-ec.p12", "keytool-chain.p12", "openssl.p12", "openssl-legacy.p12"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile("../../testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			b := newKDFBudget()
			if _, err := b.decodeEntries(data, []byte("storepass1"), []byte("storepass1")); err != nil {
				t.Fatal(err)
			}
			if b.spent == 0 || b.spent > KDFBudget/50 {
				t.Errorf("spent %d units, want some and at most 2%% of the budget %d", b.spent, KDFBudget)
			}
			t.Logf("%d units", b.spent)
		})
	}
}
