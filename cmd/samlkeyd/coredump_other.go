//go:build !linux

package main

// disableCoreDumps does nothing outside Linux; limit core dumps with the
// service manager there.
func disableCoreDumps() error { return nil }
