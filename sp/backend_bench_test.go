package sp

import (
	"context"
	"crypto/rsa"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/secret"
)

// The backend benchmarks measure whole messages with an RSA-2048 key served
// by each arithmetic backend, in one run:
//
//	go test -tags openssl -run '^$' -bench 'SignRedirect|SignPOST|DecryptResponse' -benchtime=2s ./sp/
//
// go is crypto/rsa; openssl is the key imported into libcrypto
// (keys/openssl, the -tags openssl build; skipped otherwise); pkcs11 is a
// key generated in a SoftHSM2 token (skipped without softhsm2). go and
// openssl use the same fixture key. openssl-vs-go alternates the two and
// reports openssl ÷ go (x-go), the figure a shared machine keeps steady.

// benchBackend gives a benchmark's credential of use from one backend.
type benchBackend struct {
	name string
	cred func(b *testing.B, use keys.Use) *keys.Credential
}

// benchBackends returns the go, openssl and pkcs11 backends. The pkcs11
// token key is made in the pkcs11 sub-benchmark, which runs its body once
// (b.Loop), so its SoftHSM2 configuration lives as long as it does.
func benchBackends() []benchBackend {
	fixture := func(b *testing.B, use keys.Use) *keys.Credential {
		if use == keys.UseEncryption {
			return respCred(b, "enc-current", keys.RoleCurrent)
		}
		return credential(b, "rsa2048")
	}
	return []benchBackend{
		{"go", fixture},
		{"openssl", func(b *testing.B, use keys.Use) *keys.Credential {
			if openssl.Backend() != "openssl" {
				b.Skip("build with -tags openssl for the OpenSSL backend")
			}
			c := fixture(b, use)
			k, err := openssl.NewRSA(c.Signer.(*rsa.PrivateKey))
			if err != nil {
				b.Fatal(err)
			}
			c.Signer = k
			return c
		}},
		{"pkcs11", func(b *testing.B, use keys.Use) *keys.Credential {
			token := benchTokenKey(b) // skips without softhsm2, or fails under SAMLKEYD_REQUIRE_TOOLS=1
			return &keys.Credential{RecordID: "token", RecordName: "token", Use: use, Role: keys.RoleCurrent,
				Signer: token.Signer(), Chain: token.Chain()}
		}},
	}
}

// benchTokenKey generates an RSA-2048 key (and its certificate, valid past
// respNow) in a fresh SoftHSM2 token.
func benchTokenKey(b *testing.B) *pkcs11.Key {
	s := tooltest.NewSoftHSM(b)
	s.InitToken(b, "bench", "1234", "5678")
	key, err := pkcs11.Generate(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: s.Module, URI: pkcs11.URI{Token: "bench"}, PIN: secret.FromString("1234")},
		Label:   "bench", DName: "CN=sp.example.com", ValidityDays: 3650,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = key.Close() })
	return key
}

// backendService is benchService with the signing credential c.
func backendService(b *testing.B, c *keys.Credential) *Service {
	s := testSettings(b, "rsa2048")
	s.Rand, s.Now = nil, nil // production defaults: crypto/rand, time.Now
	s.Signing = c
	svc, err := New(s)
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// BenchmarkSignRedirect is one signed redirect-binding AuthnRequest (XML,
// DEFLATE, the RSA-SHA256 signature of the query string) per backend.
func BenchmarkSignRedirect(b *testing.B) {
	benchSignBinding(b, AuthnOptions{IdP: "corp", RelayState: "https://app.example.com/after/login"})
}

// BenchmarkSignPOST is one signed POST-binding AuthnRequest (XML, c14n,
// the enveloped XML signature, the form) per backend.
func BenchmarkSignPOST(b *testing.B) {
	benchSignBinding(b, AuthnOptions{IdP: "corp", RelayState: "https://app.example.com/after/login", Binding: BindingPOST})
}

func benchSignBinding(b *testing.B, o AuthnOptions) {
	benchPerBackend(b, func(b *testing.B, be benchBackend) func() error {
		svc := backendService(b, be.cred(b, keys.UseSigning))
		return func() error { _, err := svc.AuthnRequest(o); return err }
	})
}

// BenchmarkDecryptResponse is one full response validation per backend: a
// response crewjam/saml's IdP signed (Response and Assertion, RSA-SHA256)
// with its Assertion encrypted to the backend's certificate (RSA-OAEP
// rsa-oaep-mgf1p, SHA-1, which SoftHSM2 also does, and AES-128-CBC), 7
// extra attributes. Replay is off so the same response verifies again.
func BenchmarkDecryptResponse(b *testing.B) {
	benchPerBackend(b, func(b *testing.B, be benchBackend) func() error {
		c := be.cred(b, keys.UseEncryption)
		s := respSettings(b)
		s.Decryption = []*keys.Credential{c}
		s.Replay = respNoReplay{}
		v := respValidator(b, s)
		in := b64(crewjamResponse(b, crewjamOpts{encryptTo: c.Leaf(), attrs: 7}))
		if a, err := v.Verify(context.Background(), "corp", in, respRequestID); err != nil || len(a.Attributes) != 10 {
			b.Fatalf("verify: %v (%d attributes, want 10)", err, attrCount(a))
		}
		return func() error { _, err := v.Verify(context.Background(), "corp", in, respRequestID); return err }
	})
}

// benchPerBackend runs the operation setup makes as one sub-benchmark per
// backend, then as "openssl-vs-go": the go and the openssl operation
// alternately, so that a loaded machine slows both alike, reporting
// openssl ÷ go as x-go (the sub-benchmark's ns/op is the pair's).
func benchPerBackend(b *testing.B, setup func(b *testing.B, be benchBackend) func() error) {
	backends := benchBackends()
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			op := setup(b, be)
			b.ReportAllocs()
			for b.Loop() {
				if err := op(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("openssl-vs-go", func(b *testing.B) {
		goOp, osslOp := setup(b, backends[0]), setup(b, backends[1])
		var tg, to time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := goOp(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := osslOp(); err != nil {
				b.Fatal(err)
			}
			tg, to = tg+t1.Sub(t0), to+time.Since(t1)
		}
		b.ReportMetric(float64(to)/float64(tg), "x-go")
		b.ReportMetric(float64(tg.Nanoseconds())/float64(b.N), "go-ns/op")
		b.ReportMetric(float64(to.Nanoseconds())/float64(b.N), "openssl-ns/op")
	})
}

func attrCount(a *Assertion) int {
	if a == nil {
		return 0
	}
	return len(a.Attributes)
}

// BenchmarkPKCS11Throughput signs whole redirect AuthnRequests through a
// SoftHSM2 token key from 1, 4 and 16 goroutines sharing the key's session
// pool, and reports the signatures per second (wall time).
func BenchmarkPKCS11Throughput(b *testing.B) {
	var token *pkcs11.Key
	if tooltest.SoftHSMAvailable() {
		token = benchTokenKey(b)
	}
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("signers-%d", n), func(b *testing.B) {
			if token == nil {
				tooltest.NewSoftHSM(b) // skips, or fails under SAMLKEYD_REQUIRE_TOOLS=1
			}
			svc := backendService(b, &keys.Credential{RecordID: "token", RecordName: "token", Use: keys.UseSigning,
				Role: keys.RoleCurrent, Signer: token.Signer(), Chain: token.Chain()})
			benchConcurrentAuthn(b, svc, n)
		})
	}
}

// benchConcurrentAuthn splits b.N redirect AuthnRequests across n
// goroutines: ns/op is the wall time per message.
func benchConcurrentAuthn(b *testing.B, svc *Service, n int) {
	o := AuthnOptions{IdP: "corp", RelayState: "https://app.example.com/after/login"}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := svc.AuthnRequest(o); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "sigs/s")
}
