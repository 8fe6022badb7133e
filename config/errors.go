package config

import (
	"cmp"
	"maps"
	"slices"
)

// FieldError is one problem in the configuration, naming the key path it
// is about (idps[1].sso.location).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func sortedKeys[V any](m map[string]V) []string {
	return slices.SortedFunc(maps.Keys(m), cmp.Compare[string])
}
