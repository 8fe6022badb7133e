//go:build linux

package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestDisableCoreDumps: after the call, this process may write no core
// file and is not dumpable. (It changes the test process itself, which is
// harmless.)
func TestDisableCoreDumps(t *testing.T) {
	if err := disableCoreDumps(); err != nil {
		t.Fatal(err)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != 0 || lim.Max != 0 {
		t.Errorf("RLIMIT_CORE = %d/%d, want 0/0", lim.Cur, lim.Max)
	}
	d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d != 0 {
		t.Errorf("PR_GET_DUMPABLE = %d, want 0", d)
	}
	// The soft limit cannot come back above the hard limit 0 (even as
	// root, which could raise the hard limit itself).
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 1 << 20, Max: 0}); err == nil {
		t.Error("RLIMIT_CORE soft limit raised above the hard limit 0")
	}
}
