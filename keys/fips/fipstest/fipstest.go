// Package fipstest runs a test in Go's FIPS 140-3 mode from a normal test
// run, so a test of samlkeyd's FIPS policy (keys/fips) fails in every
// `go test`, not only in the `GODEBUG=fips140=on` run of CI.
package fipstest

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// InMode reports whether the calling test runs in FIPS 140-3 mode. When it
// does not, InMode first runs the same top-level test again in a
// subprocess of the test binary with GODEBUG=fips140=on, failing t unless
// that run passes (a skip there is a failure), and returns false: the
// caller then checks the mode-off behaviour, or returns.
//
//	func TestFIPSRefusals(t *testing.T) {
//		if !fipstest.InMode(t) {
//			return // (or check that nothing is refused)
//		}
//		… assertions in FIPS 140-3 mode …
//	}
func InMode(t *testing.T) bool {
	t.Helper()
	if fips.Enabled() {
		return true
	}
	name := t.Name()
	if strings.Contains(name, "/") {
		t.Fatalf("fipstest.InMode: call it from a top-level test, not the subtest %s", name)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(name)+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug(os.Getenv("GODEBUG")))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in FIPS 140-3 mode (GODEBUG=fips140=on, a subprocess): %v\n%s", name, err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+name+" ") {
		t.Fatalf("%s in FIPS 140-3 mode (GODEBUG=fips140=on, a subprocess) did not pass:\n%s", name, out)
	}
	return false
}

// godebug returns GODEBUG with fips140=on, keeping its other settings.
func godebug(cur string) string {
	var keep []string
	for _, kv := range strings.Split(cur, ",") {
		if kv != "" && !strings.HasPrefix(kv, "fips140=") {
			keep = append(keep, kv)
		}
	}
	return strings.Join(append(keep, "fips140=on"), ",")
}
