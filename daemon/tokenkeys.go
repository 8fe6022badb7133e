package daemon

import (
	"errors"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/store"
)

// tokenCredential opens a pkcs11 record's key in its token (once per record
// version, kept across snapshots with the build cache) as a key of use. The
// chain is the record's stored one, which cert add checked against the
// token key. Errors name the record and the URI, never the PIN.
func (o *opener) tokenCredential(rec *store.Record, use keys.Use) (*keys.Credential, error) {
	k, err := o.tokenKey(rec)
	if err != nil {
		return nil, err
	}
	return &keys.Credential{
		RecordID: rec.ID, RecordName: rec.Name, Use: use, Role: keys.RoleCurrent,
		Signer: k.Signer(), Chain: k.Chain(),
	}, nil
}

// tokenKey returns rec's open token key, opening it on a miss.
func (o *opener) tokenKey(rec *store.Record) (*pkcs11.Key, error) {
	ok := openKey{rec.ID, rec.Version, "token"}
	if k, hit := lookup(o.cache.tokens, o.cache.prevTokens, ok); hit {
		return k, nil
	}
	label := fmt.Sprintf("certificate record %s (%q)", rec.ID, rec.Name)
	if o.module == "" {
		return nil, fmt.Errorf("open %s: set pkcs11.module to the PKCS#11 library to open its token", label)
	}
	u, err := rec.PKCS11URI()
	if err != nil {
		return nil, err
	}
	chain := rec.Chain()
	if len(chain) == 0 {
		return nil, fmt.Errorf("open %s: %w", label, errors.New("no stored certificate chain"))
	}
	k, err := pkcs11.Open(pkcs11.Options{Module: o.module, URI: u, PIN: rec.StorePassword, Chain: chain})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", label, err)
	}
	o.cache.tokens[ok] = k
	return k, nil
}

func (c *buildCache) prevTokens() map[openKey]*pkcs11.Key {
	if c.prev == nil {
		return nil
	}
	return c.prev.tokens
}
