package sp

import (
	"sync"
	"testing"
)

// TestConcurrentUse signs from many goroutines at once, as the API does;
// run with -race. The pooled DEFLATE writers must never mix messages.
func TestConcurrentUse(t *testing.T) {
	s := testSettings(t, "ecp256")
	s.Rand = nil // crypto/rand: Settings.Rand must be safe for concurrent use
	svc := mustNew(t, s)
	pub := s.Signing.Signer.Public()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 10 {
				rs := string(rune('a'+g)) + string(rune('0'+i))
				b := BindingRedirect
				if i%3 == 0 {
					b = BindingPOST
				}
				m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: rs, Binding: b})
				if err != nil {
					errs <- err
					return
				}
				if b == BindingPOST {
					continue
				}
				_, params, err := verifyRedirect(m.URL, pub)
				if err != nil {
					errs <- err
					return
				}
				var a authnXML
				if err := xmlUnmarshalInflated(params.Get("SAMLRequest"), &a); err != nil || a.ID != m.ID || params.Get("RelayState") != rs {
					t.Errorf("message mixed up: id %q vs %q, relay state %q vs %q (%v)", a.ID, m.ID, params.Get("RelayState"), rs, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
