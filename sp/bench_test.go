package sp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"os"
	"testing"
)

// benchCase is one benchmark: a bare private-key operation, or a whole
// message with the same key.
type benchCase struct {
	name string
	run  func(b *testing.B)
}

func benchCases(tb testing.TB) []benchCase {
	rsaSvc, rsaKey := benchService(tb, "rsa2048")
	ecSvc, ecKey := benchService(tb, "ecp256")
	data := []byte("SAMLRequest=fVLLbtswELz3KwTebepF2yIsA27cAgHSJojdHnIpaGpVE6BIlUsl%2Fft%2B&RelayState=r&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256")
	unsignedSvc := benchUnsigned(tb)
	redirect := AuthnOptions{IdP: "corp", RelayState: "https://app.example.com/after/login"}
	post := redirect
	post.Binding = BindingPOST
	return []benchCase{
		{"bare-rsa2048-SignPKCS1v15", func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(data)
				if _, err := rsa.SignPKCS1v15(nil, rsaKey.(*rsa.PrivateKey), crypto.SHA256, d[:]); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"redirect-authn-rsa2048", msgLoop(rsaSvc, redirect)},
		{"post-authn-rsa2048", msgLoop(rsaSvc, post)},
		{"redirect-authn-unsigned", msgLoop(unsignedSvc, redirect)},
		{"post-authn-unsigned", msgLoop(unsignedSvc, post)},
		{"bare-ecdsa-p256-SignASN1", func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(data)
				if _, err := ecdsa.SignASN1(nil, ecKey.(*ecdsa.PrivateKey), d[:]); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{"redirect-authn-ecdsa-p256", msgLoop(ecSvc, redirect)},
		{"post-authn-ecdsa-p256", msgLoop(ecSvc, post)},
	}
}

func benchService(tb testing.TB, key string) (*Service, crypto.Signer) {
	s := testSettings(tb, key)
	s.Rand, s.Now = nil, nil // production defaults: crypto/rand, time.Now
	svc, err := New(s)
	if err != nil {
		tb.Fatal(err)
	}
	return svc, s.Signing.Signer
}

// benchUnsigned has signing off: what a message costs besides the
// private-key operation.
func benchUnsigned(tb testing.TB) *Service {
	s := testSettings(tb, "rsa2048")
	s.Rand, s.Now = nil, nil
	s.IdPs[0].SignAuthnRequest = false
	svc, err := New(s)
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

func msgLoop(svc *Service, o AuthnOptions) func(b *testing.B) {
	return func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.AuthnRequest(o); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSign measures whole messages against the bare private-key
// operation with the same key, in one run:
//
//	go test -run '^$' -bench Sign -benchmem ./sp
func BenchmarkSign(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			c.run(b)
		})
	}
}

// TestBenchmarkRatios holds the speed targets: a signed redirect
// AuthnRequest costs at most 1.05x a bare rsa.SignPKCS1v15 with the same
// key, a POST one with its form at most 1.10x, and a redirect allocates
// under 64 KiB. It measures in this one process and runs only with
// SAMLKEYD_BENCH_RATIOS=1 (it takes seconds and wants a quiet machine).
func TestBenchmarkRatios(t *testing.T) {
	if os.Getenv("SAMLKEYD_BENCH_RATIOS") != "1" {
		t.Skip("set SAMLKEYD_BENCH_RATIOS=1 to measure the speed targets")
	}
	results := map[string]testing.BenchmarkResult{}
	for _, c := range benchCases(t) {
		results[c.name] = testing.Benchmark(func(b *testing.B) { b.ReportAllocs(); c.run(b) })
		t.Logf("%-28s %s %s", c.name, results[c.name], results[c.name].MemString())
	}
	ratio := func(msg, bare string) float64 {
		return float64(results[msg].NsPerOp()) / float64(results[bare].NsPerOp())
	}
	for _, c := range []struct {
		msg, bare string
		max       float64
	}{
		{"redirect-authn-rsa2048", "bare-rsa2048-SignPKCS1v15", 1.05},
		{"post-authn-rsa2048", "bare-rsa2048-SignPKCS1v15", 1.10},
		{"redirect-authn-ecdsa-p256", "bare-ecdsa-p256-SignASN1", 0},
		{"post-authn-ecdsa-p256", "bare-ecdsa-p256-SignASN1", 0},
	} {
		r := ratio(c.msg, c.bare)
		t.Logf("%s / %s = %.3fx", c.msg, c.bare, r)
		if c.max > 0 && r > c.max {
			t.Errorf("%s costs %.3fx the bare sign, target <= %.2fx", c.msg, r, c.max)
		}
	}
	if n := results["redirect-authn-rsa2048"].AllocedBytesPerOp(); n >= 64<<10 {
		t.Errorf("redirect allocates %d B/op, target < 64 KiB", n)
	}
}
