package keys

import (
	"fmt"
	"strings"
)

// Entry returns the entry named alias: an exact match first, then a
// case-insensitive one (keytool lower-cases JKS aliases, PKCS#12 keeps
// them). It returns ErrAliasNotFound when none matches.
func (ks *Keystore) Entry(alias string) (*Entry, error) {
	for _, e := range ks.Entries {
		if e.Alias == alias {
			return e, nil
		}
	}
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, alias) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("alias %q (have %s): %w", alias, ks.aliasList(), ErrAliasNotFound)
}

// PrivateKeyEntry returns the private-key entry named alias. With alias ""
// it returns the only private-key entry, and fails when there is none or
// more than one. It returns ErrNoPrivateKey when the entry holds no key.
func (ks *Keystore) PrivateKeyEntry(alias string) (*Entry, error) {
	if alias == "" {
		var found *Entry
		for _, e := range ks.Entries {
			if !e.IsPrivateKey() {
				continue
			}
			if found != nil {
				return nil, fmt.Errorf("keystore has several private-key entries (%s): name one with an alias", ks.aliasList())
			}
			found = e
		}
		if found == nil {
			return nil, fmt.Errorf("keystore: %w", ErrNoPrivateKey)
		}
		return found, nil
	}
	e, err := ks.Entry(alias)
	if err != nil {
		return nil, err
	}
	if e.Sealed {
		return nil, fmt.Errorf("alias %q was read without its key (ParseChains): %w", e.Alias, ErrNoPrivateKey)
	}
	if !e.IsPrivateKey() {
		return nil, fmt.Errorf("alias %q is a trusted certificate: %w", e.Alias, ErrNoPrivateKey)
	}
	return e, nil
}

// aliasList returns the aliases quoted and comma separated, for errors.
func (ks *Keystore) aliasList() string {
	if len(ks.Entries) == 0 {
		return "no entries"
	}
	q := make([]string, len(ks.Entries))
	for i, e := range ks.Entries {
		q[i] = fmt.Sprintf("%q", e.Alias)
	}
	return strings.Join(q, ", ")
}
