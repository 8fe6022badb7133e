package keys

import (
	"crypto/x509"
	"errors"
	"fmt"
)

// ImportTrusted adds cert as a trusted-certificate entry named alias.
func (ks *Keystore) ImportTrusted(alias string, cert *x509.Certificate) error {
	return errors.New("not implemented yet")
}

// ImportReply installs a CA-signed reply for the private-key entry alias.
func (ks *Keystore) ImportReply(alias string, certs []*x509.Certificate) error {
	return fmt.Errorf("import reply for alias %q: not implemented yet", alias)
}
