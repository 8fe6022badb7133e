//go:build linux

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// disableCoreDumps keeps keys, passwords and the master key out of core
// files: RLIMIT_CORE 0 (soft and hard, so it cannot be raised again) and
// not dumpable (no core even so, and /proc/<pid>/mem and ptrace closed to
// other processes of the same user). The limit is set with prlimit64,
// which the systemd unit's @system-service filter allows; setrlimit is in
// @resources, which it denies.
func disableCoreDumps() error {
	if err := unix.Prlimit(0, unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}, nil); err != nil {
		return fmt.Errorf("disable core dumps: set RLIMIT_CORE to 0: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("disable core dumps: prctl PR_SET_DUMPABLE 0: %w", err)
	}
	return nil
}
