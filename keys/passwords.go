package keys

import (
	"errors"

	"github.com/samlkeyd/samlkeyd/secret"
)

// ErrPKCS12KeyPassword is a key password, other than the store password,
// given for a PKCS#12 keystore.
var ErrPKCS12KeyPassword = errors.New("PKCS#12 keys use the store password (as keytool and openssl write them)")

// KeysUseStorePassword reports whether the private keys of a keystore in
// format f are protected by the store password rather than by a password
// of their own: PKCS#12 keys are, as keytool and openssl write them; a JKS
// key has its own password, which defaults to the store password.
func (f Format) KeysUseStorePassword() bool { return f == FormatPKCS12 }

// CheckKeyPassword refuses a key password that a keystore of format f
// cannot keep: for PKCS#12, any key password other than the store password
// (an empty one means the store password) is ErrPKCS12KeyPassword.
func (f Format) CheckKeyPassword(storePass, keyPass secret.Value) error {
	if f.KeysUseStorePassword() && !keyPass.Empty() && !keyPass.Equal(storePass) {
		return ErrPKCS12KeyPassword
	}
	return nil
}

// KeyPasswordAfterStoreChange returns the key password to write a keystore
// of format f with once its store password becomes newStore. PKCS#12 keys,
// and JKS keys that shared the store password (keyPass empty), follow the
// store password; keytool would leave such JKS keys on the old one. Other
// JKS keys keep keyPass.
func (f Format) KeyPasswordAfterStoreChange(keyPass, newStore secret.Value) secret.Value {
	if f.KeysUseStorePassword() || keyPass.Empty() {
		return newStore
	}
	return keyPass
}
