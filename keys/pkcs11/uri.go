package pkcs11

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxURILen bounds the length of a PKCS#11 URI ParseURI accepts.
const MaxURILen = 2048

// URI is a PKCS#11 URI (RFC 7512) that names a token and, for a key, an
// object on it: pkcs11:token=samlkeyd;object=signing-2027;id=%01%02.
//
// A URI never carries the PIN: ParseURI refuses the pin-value and
// pin-source query attributes, because the PIN is sealed in the record
// (or read from a file) and must not travel inside a string that is logged
// and shown.
type URI struct {
	// Token attributes (CK_TOKEN_INFO), matched exactly.
	Token        string // token label
	Manufacturer string // token manufacturer id
	Serial       string // token serial number
	Model        string // token model
	// Object attributes.
	Object string // CKA_LABEL
	ID     []byte // CKA_ID
	Type   string // public, private, cert, secret-key or data
}

// Errors a URI parse wraps.
var (
	ErrBadURI      = errors.New("invalid PKCS#11 URI")
	ErrPINInURI    = errors.New("PIN in PKCS#11 URI")
	errUnsupported = errors.New("attribute not supported")
)

var objectTypes = map[string]bool{"public": true, "private": true, "cert": true, "secret-key": true, "data": true}

// ParseURI parses a PKCS#11 URI. Path attributes token, manufacturer,
// serial, model, object, id and type are understood; library-* and slot-*
// attributes and vendor attributes (x-…) are accepted and ignored; any other
// attribute, a repeated attribute or a PIN in the query is an error.
func ParseURI(s string) (URI, error) {
	var u URI
	shown := redact(s)
	if len(s) > MaxURILen {
		return u, fmt.Errorf("parse PKCS#11 URI: %d bytes, more than %d: %w", len(s), MaxURILen, ErrBadURI)
	}
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return u, fmt.Errorf("parse PKCS#11 URI %s: does not start with \"pkcs11:\": %w", shown, ErrBadURI)
	}
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	for _, attr := range splitNonEmpty(path, ";") {
		name, value, err := attribute(attr)
		if err != nil {
			return URI{}, fmt.Errorf("parse PKCS#11 URI %s: %w", shown, err)
		}
		if seen[name] {
			return URI{}, fmt.Errorf("parse PKCS#11 URI %s: attribute %q repeated: %w", shown, name, ErrBadURI)
		}
		seen[name] = true
		if err := u.set(name, value); err != nil {
			return URI{}, fmt.Errorf("parse PKCS#11 URI %s: %w", shown, err)
		}
	}
	for _, attr := range splitNonEmpty(query, "&") {
		name, _, err := attribute(attr)
		if err != nil {
			return URI{}, fmt.Errorf("parse PKCS#11 URI: query: %w", err)
		}
		switch {
		case name == "pin-value" || name == "pin-source":
			// Never echo the URI: it holds the PIN.
			return URI{}, fmt.Errorf("parse PKCS#11 URI: query attribute %s: give the PIN with --pin-file instead (samlkeyd seals it): %w", name, ErrPINInURI)
		case name == "module-name" || name == "module-path":
			return URI{}, fmt.Errorf("parse PKCS#11 URI %s: query attribute %s: set the module in config (pkcs11.module) or with --module: %w", shown, name, ErrBadURI)
		case strings.HasPrefix(name, "x-"):
		default:
			return URI{}, fmt.Errorf("parse PKCS#11 URI %s: query attribute %q: %w", shown, name, errUnsupported)
		}
	}
	return u, nil
}

func (u *URI) set(name, value string) error {
	switch name {
	case "token":
		u.Token = value
	case "manufacturer":
		u.Manufacturer = value
	case "serial":
		u.Serial = value
	case "model":
		u.Model = value
	case "object":
		u.Object = value
	case "id":
		u.ID = []byte(value)
	case "type":
		if !objectTypes[value] {
			return fmt.Errorf("type %q: use public, private, cert, secret-key or data: %w", value, ErrBadURI)
		}
		u.Type = value
	case "pin-value", "pin-source":
		return fmt.Errorf("attribute %s: give the PIN with --pin-file instead (samlkeyd seals it): %w", name, ErrPINInURI)
	case "library-manufacturer", "library-description", "library-version",
		"slot-manufacturer", "slot-description", "slot-id":
	default:
		if !strings.HasPrefix(name, "x-") {
			return fmt.Errorf("attribute %q: %w", name, errUnsupported)
		}
	}
	return nil
}

// attribute splits name=value and percent-decodes the value.
func attribute(attr string) (string, string, error) {
	name, raw, ok := strings.Cut(attr, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%s is not name=value: %w", redact(attr), ErrBadURI)
	}
	value, err := url.PathUnescape(raw)
	if err != nil {
		return "", "", fmt.Errorf("attribute %q: bad percent-encoding: %w", name, ErrBadURI)
	}
	return strings.ToLower(name), value, nil
}

// redact quotes s for an error message, unless it may hold a PIN.
func redact(s string) string {
	l := strings.ToLower(s)
	if strings.Contains(l, "pin-") || strings.Contains(l, "pin%") {
		return "(not shown: it may hold a PIN)"
	}
	return fmt.Sprintf("%q", s)
}

func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// String returns the URI in RFC 7512 form, attributes in a fixed order,
// id percent-encoded byte by byte.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:")
	n := 0
	add := func(name, value string, all bool) {
		if value == "" {
			return
		}
		if n > 0 {
			b.WriteByte(';')
		}
		n++
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(escape(value, all))
	}
	add("token", u.Token, false)
	add("manufacturer", u.Manufacturer, false)
	add("serial", u.Serial, false)
	add("model", u.Model, false)
	add("object", u.Object, false)
	add("id", string(u.ID), true)
	add("type", u.Type, false)
	return b.String()
}

// escape percent-encodes what RFC 7512's pk11-pchar does not allow (all:
// every byte, as ids are written).
func escape(s string, all bool) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !all && pchar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func pchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:[]@!$'()*+,=&", c) >= 0
}

// tokenOnly returns u with the object attributes cleared.
func (u URI) tokenOnly() URI {
	return URI{Token: u.Token, Manufacturer: u.Manufacturer, Serial: u.Serial, Model: u.Model}
}
