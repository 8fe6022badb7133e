// Package secret owns the type that carries passwords and other secrets
// through samlkeyd: a byte slice that never prints, marshals or logs its value.
package secret

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
)

const masked = "<secret>"

// Value holds secret bytes. Its String, Format, MarshalJSON, MarshalYAML,
// MarshalText and LogValue all print "<secret>". The zero Value is empty.
type Value struct{ b []byte }

// New returns a Value holding a copy of b.
func New(b []byte) Value { return Value{b: append([]byte(nil), b...)} }

// FromString returns a Value holding s.
func FromString(s string) Value { return Value{b: []byte(s)} }

// Reveal returns the secret bytes. Callers must not keep or log them.
func (v Value) Reveal() []byte { return v.b }

// Empty reports whether the secret has no bytes.
func (v Value) Empty() bool { return len(v.b) == 0 }

// Equal compares two secrets in constant time.
func (v Value) Equal(o Value) bool { return subtle.ConstantTimeCompare(v.b, o.b) == 1 }

// Zero overwrites the secret bytes in place.
func (v Value) Zero() { clear(v.b) }

func (Value) String() string               { return masked }
func (Value) GoString() string             { return masked }
func (Value) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(masked)) }
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + masked + `"`), nil }
func (Value) MarshalText() ([]byte, error) { return []byte(masked), nil }
func (Value) MarshalYAML() (any, error)    { return masked, nil }
func (Value) LogValue() slog.Value         { return slog.StringValue(masked) }
