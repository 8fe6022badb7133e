package pkcs12

// This file runs shared vectors through this copy and through the upstream
// module it was taken from (software.sslmate.com/src/go-pkcs12, the version
// UPSTREAM.md names, which go.mod requires for this test and for
// keys/interop_test.go) and checks that they agree, except where
// UPSTREAM.md records a deviation.

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	upstream "software.sslmate.com/src/go-pkcs12"
)

// sharedVector is one PKCS#12 file and the password that opens it.
type sharedVector struct {
	name, password string
	data           []byte
}

// sharedVectors are the keytool and openssl fixtures of keys/testdata
// (made by its gen.sh) and upstream's RFC 9579 vectors in testdata, each
// with its password and with a wrong one.
func sharedVectors(t *testing.T) []sharedVector {
	t.Helper()
	var out []sharedVector
	for _, name := range []string{"keytool-ec.p12", "keytool-chain.p12", "openssl.p12", "openssl-legacy.p12"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, sharedVector{name, "storepass1", data}, sharedVector{name + "/wrong password", "storepass2", data})
	}
	names, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no testdata/*.txt vectors: %v", err)
	}
	for _, path := range names {
		b64, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		name := filepath.Base(path)
		out = append(out, sharedVector{name, "1234", data}, sharedVector{name + "/wrong password", "4321", data})
	}
	return out
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func derOf(t *testing.T, key any) []byte {
	t.Helper()
	if key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal key %T: %v", key, err)
	}
	return der
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// TestUpstreamAgreesOnDecode decodes every shared vector with both copies'
// DecodeChain, DecodeTrustStore and ToPEM: the same keys, certificates and
// PEM blocks, or the same error.
func TestUpstreamAgreesOnDecode(t *testing.T) {
	opened := 0
	for _, v := range sharedVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			key, cert, cas, err := DecodeChain(v.data, v.password)
			uKey, uCert, uCAs, uErr := upstream.DecodeChain(v.data, v.password)
			if errText(err) != errText(uErr) {
				t.Fatalf("DecodeChain: this copy %v, upstream %v", err, uErr)
			}
			if err == nil && key != nil {
				opened++
			}
			if !bytes.Equal(derOf(t, key), derOf(t, uKey)) || (cert == nil) != (uCert == nil) ||
				(cert != nil && !cert.Equal(uCert)) || !sameCerts(cas, uCAs) {
				t.Fatal("DecodeChain: the copies read different keys or certificates")
			}

			certs, err := DecodeTrustStore(v.data, v.password)
			uCerts, uErr := upstream.DecodeTrustStore(v.data, v.password)
			if errText(err) != errText(uErr) || !sameCerts(certs, uCerts) {
				t.Fatalf("DecodeTrustStore: this copy %d certificates, %v; upstream %d, %v", len(certs), err, len(uCerts), uErr)
			}

			blocks, err := ToPEM(v.data, v.password)
			//lint:ignore SA1019 the deprecated ToPEM is still part of both copies' API
			uBlocks, uErr := upstream.ToPEM(v.data, v.password)
			if errText(err) != errText(uErr) || len(blocks) != len(uBlocks) {
				t.Fatalf("ToPEM: this copy %d blocks, %v; upstream %d, %v", len(blocks), err, len(uBlocks), uErr)
			}
			for i := range blocks {
				if blocks[i].Type != uBlocks[i].Type || !bytes.Equal(blocks[i].Bytes, uBlocks[i].Bytes) {
					t.Fatalf("ToPEM block %d differs (%s, upstream %s)", i, blocks[i].Type, uBlocks[i].Type)
				}
			}
		})
	}
	// The keytool and openssl fixtures and RFC 9579 A.1-A.3 open: the
	// comparison is not between two errors only.
	if opened < 7 {
		t.Errorf("only %d vectors decoded to a key with both copies", opened)
	}
}

// TestUpstreamAgreesOnEncode encodes the same key and chain with each
// encoder of both copies from the same random stream: the files are
// byte-identical, and each copy reads the other's.
func TestUpstreamAgreesOnEncode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keytool-chain.p12"))
	if err != nil {
		t.Fatal(err)
	}
	key, cert, cas, err := DecodeChain(data, "storepass1")
	if err != nil {
		t.Fatal(err)
	}
	encoders := []struct {
		name     string
		ours     *Encoder
		upstream *upstream.Encoder
	}{
		{"LegacyRC2", LegacyRC2, upstream.LegacyRC2},
		{"LegacyDES", LegacyDES, upstream.LegacyDES},
		{"Modern2023", Modern2023, upstream.Modern2023},
		{"Modern2026", Modern2026, upstream.Modern2026},
	}
	for _, e := range encoders {
		t.Run(e.name, func(t *testing.T) {
			ours, err := e.ours.WithRand(rand.NewChaCha8([32]byte{7})).Encode(key, cert, cas, "pw")
			if err != nil {
				t.Fatalf("this copy: %v", err)
			}
			theirs, err := e.upstream.WithRand(rand.NewChaCha8([32]byte{7})).Encode(key, cert, cas, "pw")
			if err != nil {
				t.Fatalf("upstream: %v", err)
			}
			if !bytes.Equal(ours, theirs) {
				t.Error("the copies encode the same input from the same random stream differently")
			}
			if _, c, _, err := upstream.DecodeChain(ours, "pw"); err != nil || !c.Equal(cert) {
				t.Errorf("upstream reads this copy's file: %v", err)
			}
			if _, c, _, err := DecodeChain(theirs, "pw"); err != nil || !c.Equal(cert) {
				t.Errorf("this copy reads upstream's file: %v", err)
			}
		})
	}
}

// TestUpstreamIterationCapDeviation pins the one decoding deviation: a
// KDF iteration count above MaxIterations, which upstream would run, is
// refused here before any key derivation.
func TestUpstreamIterationCapDeviation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: upstream runs a million PBKDF2 iterations several times (seconds)")
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "keytool-ec.p12"))
	if err != nil {
		t.Fatal(err)
	}
	// Encode with an iteration count one above the cap with upstream,
	// which has no cap, and read it with both copies.
	key, cert, cas, err := DecodeChain(data, "storepass1")
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := upstream.Modern2023.WithIterations(MaxIterations+1).WithRand(rand.NewChaCha8([32]byte{1})).Encode(key, cert, cas, "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := upstream.DecodeChain(pfx, "pw"); err != nil {
		t.Fatalf("upstream: %v", err)
	}
	if _, _, _, err := DecodeChain(pfx, "pw"); err == nil || !strings.Contains(err.Error(), "iteration count") {
		t.Fatalf("this copy read %d iterations: %v", MaxIterations+1, err)
	}
}
