// Package tooltest finds the external tools and servers that interop tests
// use (keytool, openssl, xmlsec1, nginx, PostgreSQL). A missing tool skips
// the test with a message on a developer's machine and fails it when
// SAMLKEYD_REQUIRE_TOOLS=1 is set, as CI sets it.
package tooltest

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing tools fail tests instead of skipping them.
func Required() bool { return os.Getenv("SAMLKEYD_REQUIRE_TOOLS") == "1" }

// Path returns the path of the named executable, or skips (fails when
// required) the test when it is not on PATH.
func Path(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" not found on PATH (Debian: see .ci/run for the package)")
	}
	return p
}

// DatabaseURL returns SAMLKEYD_TEST_DATABASE_URL, or skips (fails when
// required) the test when it is unset.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("SAMLKEYD_TEST_DATABASE_URL")
	if u == "" {
		missing(t, "SAMLKEYD_TEST_DATABASE_URL is not set: PostgreSQL tests need a server (.ci/run starts one)")
	}
	return u
}

func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatalf("SAMLKEYD_REQUIRE_TOOLS=1: %s", msg)
	}
	t.Skip(msg)
}
