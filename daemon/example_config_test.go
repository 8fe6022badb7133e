package daemon

import (
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
)

// TestExampleRotationPolicies: the documented example's rotation policies
// are ones a snapshot accepts.
func TestExampleRotationPolicies(t *testing.T) {
	cfg, err := config.Load(config.LoadOptions{File: "../examples/samlkeyd.yaml", Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		if _, ok, err := lifecycle.PolicyOf(cfg, use); !ok || err != nil {
			t.Errorf("examples/samlkeyd.yaml rotation.%s: configured %v: %v", use, ok, err)
		}
	}
}
