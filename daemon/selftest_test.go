package daemon

import (
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys"
)

func TestSelfTest(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	ks := d.Snapshot().Keys
	if err := selfTest(ks); err != nil {
		t.Fatalf("self-test of a good snapshot: %v", err)
	}
	// A credential whose key does not match its published certificate:
	// the encryption certificate paired with the signing key.
	sig, enc := ks.Current(keys.UseSigning), ks.Current(keys.UseEncryption)
	bad := &keys.KeySet{
		Signing:    []*keys.Credential{{RecordID: "s", Role: keys.RoleCurrent, Signer: sig.Signer, Chain: enc.Chain}},
		Encryption: []*keys.Credential{{RecordID: "e", Role: keys.RoleCurrent, Signer: sig.Signer, Chain: enc.Chain}},
	}
	err := selfTest(bad)
	if err == nil || !strings.Contains(err.Error(), "signing key s") || !strings.Contains(err.Error(), "encryption key e") {
		t.Fatalf("self-test of mismatched keys: %v", err)
	}
}

func TestMessageSelfTest(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	s := d.Snapshot()
	if err := messageSelfTest(s.SP, s.Config, s.Keys.Signing[0].Leaf(), d.now()); err != nil {
		t.Fatalf("message self-test of a good snapshot: %v", err)
	}
	other := s.Keys.Current(keys.UseEncryption).Leaf()
	if err := messageSelfTest(s.SP, s.Config, other, d.now()); err == nil || !strings.Contains(err.Error(), "redirect AuthnRequest") {
		t.Fatalf("message self-test against another certificate: %v", err)
	}
}
