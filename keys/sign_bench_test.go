package keys_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/secret"
)

// BenchmarkSign measures one RSA-2048 PKCS#1 v1.5 SHA-256 signature (what
// a signed AuthnRequest costs) per backend: go (crypto/rsa), openssl (the
// -tags openssl build; skipped otherwise), pkcs11 (SoftHSM2; skipped
// without it), and the pkcs11 throughput with 1, 4 and 16 concurrent
// signers sharing one key's session pool.
func BenchmarkSign(b *testing.B) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("<samlp:AuthnRequest ID=\"_bench\"/>"))
	b.Run("go", func(b *testing.B) { benchSigner(b, k, digest[:]) })
	b.Run("openssl", func(b *testing.B) {
		if openssl.Backend() != "openssl" {
			b.Skip("build with -tags openssl for the OpenSSL backend")
		}
		sd, err := openssl.NewRSA(k)
		if err != nil {
			b.Fatal(err)
		}
		benchSigner(b, sd, digest[:])
	})
	// One token key for the pkcs11 sub-benchmarks, made outside their timers.
	var key *pkcs11.Key
	if tooltest.SoftHSMAvailable() {
		key = softHSMKey(b)
	}
	pkcs11Bench := func(name string, f func(b *testing.B, s crypto.Signer)) {
		b.Run(name, func(b *testing.B) {
			if key == nil {
				tooltest.NewSoftHSM(b) // skips, or fails under SAMLKEYD_REQUIRE_TOOLS=1
			}
			f(b, key.Signer())
		})
	}
	pkcs11Bench("pkcs11", func(b *testing.B, s crypto.Signer) { benchSigner(b, s, digest[:]) })
	for _, n := range []int{1, 4, 16} {
		pkcs11Bench(fmt.Sprintf("pkcs11-signers-%d", n), func(b *testing.B, s crypto.Signer) { benchConcurrent(b, s, digest[:], n) })
	}
}

func benchSigner(b *testing.B, s crypto.Signer, digest []byte) {
	for b.Loop() {
		if _, err := s.Sign(rand.Reader, digest, crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConcurrent splits b.N signatures across n goroutines: ns/op is the
// wall time per signature, so 1e9/ns_op is the throughput.
func benchConcurrent(b *testing.B, s crypto.Signer, digest []byte, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Sign(rand.Reader, digest, crypto.SHA256); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// softHSMKey generates an RSA-2048 key in a fresh SoftHSM2 token.
func softHSMKey(b *testing.B) *pkcs11.Key {
	s := tooltest.NewSoftHSM(b)
	s.InitToken(b, "bench", "1234", "5678")
	key, err := pkcs11.Generate(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: s.Module, URI: pkcs11.URI{Token: "bench"}, PIN: secret.FromString("1234")},
		Label:   "bench", DName: "CN=bench",
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = key.Close() })
	return key
}
