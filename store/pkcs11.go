package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
)

// FormatPKCS11 is the format of a pkcs11 record: its data is a PKCS#11 URI.
const FormatPKCS11 keys.Format = "pkcs11"

// ErrTokenRecord is returned when a pkcs11 record is opened as a file: its
// key is in a token, which only a caller with the module path opens
// (PKCS11URI and the record's store password, the PIN).
var ErrTokenRecord = errors.New("a pkcs11 record's key is in its token: open it with pkcs11.module")

// inspectNew validates a record being added: a pkcs11 record by its URI's
// syntax and the chain the caller read from the token; any other type by
// its content.
func inspectNew(r NewRecord) (facts, error) {
	if r.Type != TypePKCS11 {
		return inspect(r.Type, r.Data, r.Alias, r.StorePassword, r.KeyPassword)
	}
	u, err := pkcs11.ParseURI(strings.TrimSpace(string(r.Data)))
	if err != nil {
		return facts{}, err
	}
	if u.Token == "" || (u.Object == "" && len(u.ID) == 0) {
		return facts{}, fmt.Errorf("uri %s: name the token and the key (object= or id=)", u)
	}
	if len(r.Chain) == 0 || r.Chain[0] == nil {
		return facts{}, errors.New("a pkcs11 record needs the key's certificate chain (from the token or a file)")
	}
	if r.Alias != "" || !r.KeyPassword.Empty() {
		return facts{}, errors.New("a pkcs11 record has no alias and no key password (the PIN is its store password)")
	}
	f := facts{format: FormatPKCS11, chain: r.Chain}
	f.notAfter = f.chain[0].NotAfter.UTC()
	f.fingerprint = keys.FingerprintSHA256(f.chain[0])
	return f, nil
}

// PKCS11URI returns a pkcs11 record's token URI.
func (r *Record) PKCS11URI() (pkcs11.URI, error) {
	if r.Type != TypePKCS11 {
		return pkcs11.URI{}, fmt.Errorf("%s is a %s, not a pkcs11 record", r.label(), r.Type)
	}
	if err := r.loaded(); err != nil {
		return pkcs11.URI{}, err
	}
	u, err := pkcs11.ParseURI(strings.TrimSpace(string(r.Data)))
	if err != nil {
		return pkcs11.URI{}, fmt.Errorf("open %s: %w", r.label(), err)
	}
	return u, nil
}

// tokenChains is a pkcs11 record's stored chain as a keystore of one sealed
// entry: what Chains returns without opening the token.
func (r *Record) tokenChains() *keys.Keystore {
	return &keys.Keystore{Format: FormatPKCS11, Entries: []*keys.Entry{{Chain: r.Chain(), Sealed: true}}}
}
