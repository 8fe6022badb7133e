package keys

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// ImportTrusted adds cert as a trusted-certificate entry named alias, as
// keytool -importcert does for a CA certificate. An existing alias (in any
// case) gives ErrAliasExists; the keystore is then unchanged.
func (ks *Keystore) ImportTrusted(alias string, cert *x509.Certificate) error {
	if alias == "" {
		return errors.New("import trusted certificate: alias is empty")
	}
	if cert == nil {
		return fmt.Errorf("import trusted certificate %q: no certificate", alias)
	}
	if e, err := ks.Entry(alias); err == nil {
		return fmt.Errorf("import trusted certificate: alias %q: %w (pick another alias)", e.Alias, ErrAliasExists)
	}
	now := time.Now
	if ks.Now != nil {
		now = ks.Now
	}
	ks.Entries = append(ks.Entries, &Entry{Alias: alias, Created: now().UTC().Truncate(time.Millisecond), Chain: []*x509.Certificate{cert}})
	return nil
}

// ImportReply installs a CA's reply to a CSR as the chain of the
// private-key entry alias, as keytool -importcert does for a key alias.
//
// One certificate in certs must carry the entry's public key
// (ErrReplyKeyMismatch otherwise). The chain is built from it through the
// reply's own certificates, then through the keystore's trusted entries,
// and must end at a self-signed root found in either: so the root and
// intermediates are imported first, or the reply is a bundle carrying the
// whole chain. A reply that does not chain gives ErrReplyNoChain naming the
// missing issuer. On any error the keystore is unchanged.
func (ks *Keystore) ImportReply(alias string, certs []*x509.Certificate) error {
	e, err := ks.PrivateKeyEntry(alias)
	if err != nil {
		return fmt.Errorf("import reply: %w", err)
	}
	if len(certs) == 0 {
		return fmt.Errorf("import reply for alias %q: no certificate in the reply", e.Alias)
	}
	leaf := -1
	for i, c := range certs {
		if publicKeysEqual(c.PublicKey, e.Key.Public()) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return fmt.Errorf("import reply for alias %q: %w: no certificate in the reply has the public key of the CSR; was it made from another keystore or alias?", e.Alias, ErrReplyKeyMismatch)
	}
	others := append(append([]*x509.Certificate(nil), certs[:leaf]...), certs[leaf+1:]...)
	chain, _ := orderChain(certs[leaf], others)
	var trusted []*x509.Certificate
	for _, t := range ks.Entries {
		if !t.IsPrivateKey() && !t.Sealed && len(t.Chain) == 1 {
			trusted = append(trusted, t.Chain[0])
		}
	}
	last := chain[len(chain)-1]
	if !isSelfIssued(last) {
		more, _ := orderChain(last, trusted)
		chain = append(chain, more[1:]...)
		last = chain[len(chain)-1]
	}
	if !isSelfIssued(last) {
		return fmt.Errorf("import reply for alias %q: %w: issuer %q of %q is missing; import the root and intermediate certificates first (keystore import --trustcacerts) or give a bundle with the whole chain",
			e.Alias, ErrReplyNoChain, last.Issuer.String(), last.Subject.String())
	}
	if err := checkSelfSigned(last); err != nil {
		return fmt.Errorf("import reply for alias %q: %w: root %q: self-signature: %v", e.Alias, ErrReplyNoChain, last.Subject.String(), err)
	}
	if len(chain) == 1 && len(e.Chain) == 1 && chain[0].Equal(e.Chain[0]) {
		return fmt.Errorf("import reply for alias %q: the reply is the entry's own certificate", e.Alias)
	}
	e.Chain = chain
	return nil
}
