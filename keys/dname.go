package keys

import (
	"crypto/sha1"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// dnameAttrs maps the attribute names keytool's -dname accepts to OIDs.
var dnameAttrs = map[string]asn1.ObjectIdentifier{
	"CN":           {2, 5, 4, 3},
	"C":            {2, 5, 4, 6},
	"L":            {2, 5, 4, 7},
	"ST":           {2, 5, 4, 8},
	"S":            {2, 5, 4, 8},
	"STREET":       {2, 5, 4, 9},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"T":            {2, 5, 4, 12},
	"SERIALNUMBER": {2, 5, 4, 5},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"UID":          {0, 9, 2342, 19200300, 100, 1, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"EMAIL":        {1, 2, 840, 113549, 1, 9, 1},
}

// ParseDName parses a distinguished name written as keytool's -dname takes
// it, most significant last: "CN=sp.example.com, OU=IT, O=Example, C=US".
// Commas inside a value are escaped with a backslash or the value is
// double-quoted.
func ParseDName(s string) (pkix.Name, error) {
	parts, err := splitDName(s)
	if err != nil {
		return pkix.Name{}, err
	}
	if len(parts) == 0 {
		return pkix.Name{}, errors.New("parse dname: empty, give e.g. \"CN=sp.example.com,O=Example,C=US\"")
	}
	var rdn pkix.RDNSequence
	// keytool writes the string's last attribute first in the encoding.
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		k, v, ok := strings.Cut(p, "=")
		k = strings.ToUpper(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		if !ok || k == "" {
			return pkix.Name{}, fmt.Errorf("parse dname %q: %q is not NAME=value", s, p)
		}
		oid, known := dnameAttrs[k]
		if !known {
			return pkix.Name{}, fmt.Errorf("parse dname %q: unknown attribute %q (use CN, OU, O, L, ST, C, DC, EMAILADDRESS)", s, k)
		}
		if v == "" {
			return pkix.Name{}, fmt.Errorf("parse dname %q: %s has an empty value", s, k)
		}
		if k == "C" && len(v) != 2 {
			return pkix.Name{}, fmt.Errorf("parse dname %q: C=%q must be a two-letter country code", s, v)
		}
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}})
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	name.ExtraNames = nil
	for _, set := range rdn {
		name.ExtraNames = append(name.ExtraNames, set...)
	}
	return name, nil
}

// splitDName splits on unescaped commas outside double quotes and removes
// the escapes and quotes.
func splitDName(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	inQuote, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == '"':
			inQuote = !inQuote
		case r == ',' && !inQuote:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if esc || inQuote {
		return nil, fmt.Errorf("parse dname %q: unterminated escape or quote", s)
	}
	if strings.TrimSpace(cur.String()) != "" || len(parts) > 0 {
		parts = append(parts, cur.String())
	}
	return parts, nil
}

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
