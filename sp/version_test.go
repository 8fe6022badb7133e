package sp

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// minGoxmldsig is the oldest goxmldsig with the fixes for CVE-2026-33487
// and the canonicalization DoS; crewjam/saml v0.5.1 alone would pull v1.4.0.
const minGoxmldsig = "v1.6.1"

// TestGoxmldsigVersion fails when the resolved goxmldsig is older than
// minGoxmldsig: the vulnerability database is not reachable from CI, so
// govulncheck cannot stand in for this.
func TestGoxmldsigVersion(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/russellhaering/goxmldsig").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/russellhaering/goxmldsig: %v", err)
	}
	if v := strings.TrimSpace(string(out)); !versionAtLeast(v, minGoxmldsig) {
		t.Errorf("go list -m resolves goxmldsig %s, need >= %s: go get github.com/russellhaering/goxmldsig@%s", v, minGoxmldsig, minGoxmldsig)
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"v1.6.1", true}, {"v1.6.2", true}, {"v1.10.0", true}, {"v2.0.0", true},
		{"v1.6.0", false}, {"v1.4.0", false}, {"v1.6.1-rc.1", false}, {"v0.9.9", false}, {"", false}, {"garbage", false},
	}
	for _, tt := range tests {
		t.Run(tt.v, func(t *testing.T) {
			if got := versionAtLeast(tt.v, minGoxmldsig); got != tt.want {
				t.Errorf("versionAtLeast(%q) = %v", tt.v, got)
			}
		})
	}
}

// versionAtLeast compares two vMAJOR.MINOR.PATCH versions; a pre-release
// of min (v1.6.1-rc.1) is older than min.
func versionAtLeast(v, min string) bool {
	parse := func(s string) ([3]int, bool, bool) {
		var n [3]int
		s, ok := strings.CutPrefix(s, "v")
		if !ok {
			return n, false, false
		}
		core, _, isPre := strings.Cut(s, "-")
		if i := strings.IndexByte(core, '+'); i >= 0 {
			core = core[:i]
		}
		parts := strings.Split(core, ".")
		if len(parts) != 3 {
			return n, false, false
		}
		for i, p := range parts {
			x, err := strconv.Atoi(p)
			if err != nil || x < 0 {
				return n, false, false
			}
			n[i] = x
		}
		return n, isPre, true
	}
	a, aPre, ok1 := parse(v)
	b, _, ok2 := parse(min)
	if !ok1 || !ok2 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return !aPre
}
