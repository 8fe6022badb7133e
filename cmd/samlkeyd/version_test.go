package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/buildinfo"
)

// TestVersion: `version` and `--version` print the same build facts, with
// no store needed.
func TestVersion(t *testing.T) {
	t.Chdir(t.TempDir()) // no store here: version must not need one
	out := mustCLI(t, "version")
	for _, want := range []string{"samlkeyd ", "  revision  ", "  go        " + runtime.Version() + "\n", "  crypto    go, FIPS 140-3 mode "} {
		if !strings.Contains(out, want) {
			t.Errorf("version lacks %q:\n%s", want, out)
		}
	}
	if flag := mustCLI(t, "--version"); flag != out {
		t.Errorf("--version = %q, want what version prints: %q", flag, out)
	}
	var i buildinfo.Info
	if err := json.Unmarshal([]byte(mustCLI(t, "version", "--json")), &i); err != nil || i != buildinfo.Read() {
		t.Errorf("version --json = %+v, %v; want %+v", i, err, buildinfo.Read())
	}
}
