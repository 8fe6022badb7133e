//go:build cgo

package pkcs11

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/samlkeyd/samlkeyd/secret"
)

// PKCS#11 login state is per token and process: once one key of a token is
// open (logged in), C_Login for another answers CKR_USER_ALREADY_LOGGED_IN
// without checking its PIN, so a record with a wrong PIN would open. A
// token has one user PIN, so logins remembers, per token, a keyed hash of
// the PIN of the last login the token itself checked, and a PIN given
// while the process is logged in must equal it. It is process-wide state
// because the login state it mirrors is (as moduleMu for the modules).
var logins = &loginPINs{pins: map[string][]byte{}}

// loginPINs is the PIN hashes of checked logins, by token (loginID). The
// hash is an HMAC under a key drawn once per process, so the memory holds
// no plain hash of a short PIN.
type loginPINs struct {
	mu   sync.Mutex
	key  []byte
	pins map[string][]byte
}

// loginID names a token of a module for logins.
func loginID(module, label, serial string) string {
	return module + "\x00" + label + "\x00" + serial
}

func (l *loginPINs) sum(pin secret.Value) []byte {
	if l.key == nil {
		l.key = make([]byte, 32)
		_, _ = rand.Read(l.key) // crypto/rand.Read does not fail (Go 1.24+)
	}
	m := hmac.New(sha256.New, l.key)
	m.Write(pin.Reveal())
	return m.Sum(nil)
}

// remember records pin as the one the token checked at its last login.
func (l *loginPINs) remember(id string, pin secret.Value) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pins[id] = l.sum(pin)
}

// check compares pin with the PIN of the login the process holds. A login
// this package did not make (none remembered) cannot be compared: pin is
// accepted, as the token would.
func (l *loginPINs) check(id string, pin secret.Value) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	want, ok := l.pins[id]
	if !ok || hmac.Equal(want, l.sum(pin)) {
		return nil
	}
	return fmt.Errorf("%w: the token is logged in already in this process with another PIN, which it accepted (PKCS#11 login is per token and process)", ErrWrongPIN)
}
