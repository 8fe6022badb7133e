//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/secret"
)

// TestPKCS11CheckAndReturn: the token's directory is moved away under an
// open key and back: Check and Sign fail while it is away, Reconnect
// fails naming the URI, and once it is back (and the module, closed with
// the key's last session, scans its tokens again) Reconnect brings the key
// back and it signs.
func TestPKCS11CheckAndReturn(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "returning", "rsa")
	if err := k.Check(); err != nil {
		t.Fatalf("Check on a present key: %v", err)
	}
	away := t.TempDir()
	entries, err := os.ReadDir(s.TokenDir)
	if err != nil {
		t.Fatal(err)
	}
	move := func(from, to string) {
		for _, e := range entries {
			if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	move(s.TokenDir, away)
	if err := k.Check(); !errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrTokenGone) {
		t.Fatalf("Check with the token away: %v, want ErrKeyNotFound or ErrTokenGone", err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := k.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, ErrTokenGone) {
		t.Fatalf("Sign with the token away: %v, want ErrTokenGone", err)
	}
	if err := k.Reconnect(); !errors.Is(err, ErrTokenNotFound) || !strings.Contains(err.Error(), k.URI().String()) {
		t.Fatalf("Reconnect with the token away: %v, want ErrTokenNotFound naming the URI", err)
	}
	move(away, s.TokenDir)
	if err := k.Reconnect(); err != nil {
		t.Fatalf("Reconnect with the token back: %v", err)
	}
	if err := k.Check(); err != nil {
		t.Fatalf("Check after Reconnect: %v", err)
	}
	if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("Sign after Reconnect: %v", err)
	}
}

// TestPKCS11Delete: Delete removes the key pair and its certificate from
// the token.
func TestPKCS11Delete(t *testing.T) {
	s := hsm(t)
	keep := generate(t, s, "kept", "rsa")
	k := generate(t, s, "deleted", "ec")
	if err := k.Delete(); err != nil {
		t.Fatal(err)
	}
	tokens, err := List(s.Module, ListOptions{Token: testToken, PIN: secret.FromString(testPIN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens[0].Keys) != 1 || tokens[0].Keys[0].Label != "kept" || len(tokens[0].Certs) != 1 || tokens[0].Certs[0].Label != "kept" {
		t.Fatalf("token after Delete: keys %+v certs %+v, want only %s", tokens[0].Keys, tokens[0].Certs, keep.URI())
	}
	if err := k.Delete(); !errors.Is(err, ErrTokenGone) {
		t.Fatalf("Delete twice: %v, want ErrTokenGone", err)
	}
}

// TestPKCS11WrongPINWhileLoggedIn: while one key holds the token logged in,
// the token answers CKR_USER_ALREADY_LOGGED_IN to any PIN; a second key
// opened with a wrong PIN is still refused (compared with the PIN that
// logged in), and one with the right PIN opens. List does the same.
func TestPKCS11WrongPINWhileLoggedIn(t *testing.T) {
	s := hsm(t)
	first := generate(t, s, "first", "rsa")
	second := generate(t, s, "second", "rsa")
	_ = second.Close() // first keeps the token logged in
	const wrong = "9999-wrong-PIN"
	_, err := Open(Options{Module: s.Module, URI: second.URI(), PIN: secret.FromString(wrong)})
	if !errors.Is(err, ErrWrongPIN) || !strings.Contains(err.Error(), second.URI().String()) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Open with a wrong PIN while logged in: %v, want ErrWrongPIN naming the URI", err)
	}
	k, err := Open(Options{Module: s.Module, URI: second.URI(), PIN: secret.FromString(testPIN)})
	if err != nil {
		t.Fatalf("Open with the right PIN while logged in: %v", err)
	}
	_ = k.Close()
	if _, err := List(s.Module, ListOptions{Token: testToken, PIN: secret.FromString(wrong)}); !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("List with a wrong PIN while logged in: %v, want ErrWrongPIN", err)
	}
	if _, err := List(s.Module, ListOptions{Token: testToken, PIN: secret.FromString(testPIN)}); err != nil {
		t.Fatalf("List with the right PIN while logged in: %v", err)
	}
	if err := first.Check(); err != nil {
		t.Fatalf("the first key after the refused logins: %v", err)
	}
}
