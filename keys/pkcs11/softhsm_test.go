//go:build cgo

package pkcs11

//lint:file-ignore SA1019 the tests prove the PKCS#1 v1.5 decryption sp allows with allow_rsa15.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

const (
	testPIN   = "4711-user-PIN"
	testSOPIN = "0815-so-PIN"
	testToken = "samlkeyd"
)

// hsm makes a SoftHSM2 token directory with one initialised token.
func hsm(t testing.TB) *tooltest.SoftHSM {
	t.Helper()
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, testToken, testPIN, testSOPIN)
	return s
}

// generate makes a key pair in the test token and closes it at the end.
func generate(t testing.TB, s *tooltest.SoftHSM, label, keyType string) *Key {
	t.Helper()
	k, err := Generate(GenerateOptions{
		Options: Options{Module: s.Module, URI: URI{Token: testToken}, PIN: secret.FromString(testPIN)},
		Label:   label, KeyType: keyType, DName: "CN=sp.example.com,O=Example,C=US", ValidityDays: 30,
	})
	if err != nil {
		t.Fatalf("Generate %s: %v", label, err)
	}
	t.Cleanup(func() { _ = k.Close() })
	return k
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tooltest.Path(t, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func writePEM(t testing.TB, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), strings.ReplaceAll(strings.ToLower(typ), " ", "-")+".pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPKCS11GeneratedKeyStaysInToken: pkcs11-tool shows the generated
// private key sensitive, not extractable, never extractable.
func TestPKCS11GeneratedKeyStaysInToken(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "signing-2027", "rsa")
	out := run(t, "pkcs11-tool", "--module", s.Module, "--token-label", testToken, "--login", "--pin", testPIN, "-O", "--type", "privkey")
	block := objectBlock(out, "Private Key Object", "signing-2027")
	if block == "" {
		t.Fatalf("pkcs11-tool -O shows no private key labelled signing-2027:\n%s", out)
	}
	access := lineWith(block, "Access:")
	for _, want := range []string{"sensitive", "always sensitive", "never extractable"} {
		if !strings.Contains(access, want) {
			t.Errorf("Access line %q lacks %q", access, want)
		}
	}
	if strings.Contains(strings.ReplaceAll(access, "never extractable", ""), "extractable") {
		t.Errorf("Access line %q says extractable", access)
	}
	out = run(t, "pkcs11-tool", "--module", s.Module, "--token-label", testToken, "-O", "--type", "pubkey")
	if pb := objectBlock(out, "Public Key Object", "signing-2027"); !strings.Contains(pb, "RSA 2048 bits") {
		t.Errorf("public key is not RSA 2048:\n%s", out)
	}
	// The certificate was imported with the key's id and label.
	out = run(t, "pkcs11-tool", "--module", s.Module, "--token-label", testToken, "-O", "--type", "cert")
	cblock := objectBlock(out, "Certificate Object", "signing-2027")
	if !strings.Contains(cblock, "CN=sp.example.com") && !strings.Contains(cblock, "sp.example.com") {
		t.Errorf("no certificate for signing-2027 with the subject:\n%s", out)
	}
	if id := lineWith(cblock, "ID:"); !strings.Contains(strings.ToLower(id), strings.ToLower(hexID(k.URI().ID))) {
		t.Errorf("certificate %q, want the key's id %x", id, k.URI().ID)
	}
}

// objectBlock returns the lines of pkcs11-tool -O output for the object of
// kind whose label is label.
func objectBlock(out, kind, label string) string {
	for _, b := range strings.Split(out, kind) {
		if strings.Contains(b, "label:") && strings.TrimSpace(strings.SplitN(lineWith(b, "label:"), ":", 2)[1]) == label {
			return b
		}
	}
	return ""
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func hexID(id []byte) string {
	const hx = "0123456789abcdef"
	var b strings.Builder
	for _, c := range id {
		b.WriteByte(hx[c>>4])
		b.WriteByte(hx[c&15])
	}
	return b.String()
}

// TestPKCS11SignVerifiedByOpenSSL: PKCS#1 v1.5, PSS and ECDSA signatures
// made through the token verify with openssl and the token's certificate.
func TestPKCS11SignVerifiedByOpenSSL(t *testing.T) {
	s := hsm(t)
	rsaKey := generate(t, s, "rsa-sign", "rsa")
	ecKey := generate(t, s, "ec-sign", "ec")
	data := []byte("<samlp:AuthnRequest ID=\"_a\"/>")
	dataFile := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(dataFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(data)
	for _, tc := range []struct {
		name  string
		key   *Key
		opts  crypto.SignerOpts
		extra []string
	}{
		{"RSA PKCS#1 v1.5", rsaKey, crypto.SHA256, nil},
		{"RSA-PSS", rsaKey, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
			[]string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"}},
		{"RSA-PSS auto salt", rsaKey, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256},
			[]string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"}},
		{"ECDSA P-256", ecKey, crypto.SHA256, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := tc.key.Signer().Sign(rand.Reader, digest[:], tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(t.TempDir(), "sig")
			if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
				t.Fatal(err)
			}
			pub, err := x509.MarshalPKIXPublicKey(tc.key.Chain()[0].PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			args := append([]string{"dgst", "-sha256", "-verify", writePEM(t, "PUBLIC KEY", pub), "-signature", sigFile}, tc.extra...)
			out := run(t, "openssl", append(args, dataFile)...)
			if !strings.Contains(out, "Verified OK") {
				t.Fatalf("openssl: %s", out)
			}
		})
	}
	if _, ok := ecKey.Signer().(crypto.Decrypter); ok {
		t.Error("an EC token key's Signer is a crypto.Decrypter")
	}
	// The self-signed certificate itself was signed through the token.
	for _, k := range []*Key{rsaKey, ecKey} {
		c := k.Chain()[0]
		if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			t.Errorf("%s: self-signature: %v", k.URI(), err)
		}
		if _, ok := k.Public().(*ecdsa.PublicKey); ok != (k == ecKey) {
			t.Errorf("%s: public key %T", k.URI(), k.Public())
		}
	}
}

// TestPKCS11DecryptFromOpenSSL: openssl encrypts to the token's certificate
// (OAEP and PKCS#1 v1.5) and the token decrypts.
func TestPKCS11DecryptFromOpenSSL(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "encryption-2027", "rsa")
	certFile := writePEM(t, "CERTIFICATE", k.Chain()[0].Raw)
	sessionKey := []byte("0123456789abcdef0123456789abcdef") // an AES-256 key
	in := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(in, sessionKey, 0o600); err != nil {
		t.Fatal(err)
	}
	dec := k.Signer().(crypto.Decrypter)
	for _, tc := range []struct {
		name string
		pad  []string
		opts crypto.DecrypterOpts
	}{
		{"OAEP SHA-1 (rsa-oaep-mgf1p)", []string{"-pkeyopt", "rsa_padding_mode:oaep"}, &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}},
		{"OAEP MGFHash zero", []string{"-pkeyopt", "rsa_padding_mode:oaep"}, &rsa.OAEPOptions{Hash: crypto.SHA1}},
		{"PKCS#1 v1.5", []string{"-pkeyopt", "rsa_padding_mode:pkcs1"}, nil},
		{"PKCS#1 v1.5 session key", []string{"-pkeyopt", "rsa_padding_mode:pkcs1"}, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "ct")
			run(t, "openssl", append([]string{"pkeyutl", "-encrypt", "-certin", "-inkey", certFile, "-in", in, "-out", out}, tc.pad...)...)
			ct, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			pt, err := dec.Decrypt(rand.Reader, ct, tc.opts)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(pt, sessionKey) {
				t.Fatalf("Decrypt = %x, want %x", pt, sessionKey)
			}
		})
	}
	t.Run("PKCS#1 v1.5 session key, bad padding gives a random key", func(t *testing.T) {
		ct := make([]byte, 256)
		ct[0], ct[255] = 0x01, 0x02
		a, err := dec.Decrypt(rand.Reader, ct, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
		if err != nil {
			t.Fatalf("Decrypt with SessionKeyLen returned an error (a padding oracle): %v", err)
		}
		b, _ := dec.Decrypt(rand.Reader, ct, &rsa.PKCS1v15DecryptOptions{SessionKeyLen: 32})
		if len(a) != 32 || bytes.Equal(a, b) {
			t.Fatalf("substitute keys %x and %x: want two different random 32-byte keys", a, b)
		}
	})
	t.Run("OAEP SHA-256 with MGF1-SHA-1 is refused by name", func(t *testing.T) {
		_, err := dec.Decrypt(rand.Reader, make([]byte, 256), &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
		if !errors.Is(err, ErrUnsupportedOpt) || !strings.Contains(err.Error(), "pkcs11:token=samlkeyd;object=encryption-2027") {
			t.Fatalf("err = %v, want ErrUnsupportedOpt naming the URI", err)
		}
	})
}

// TestPKCS11ConcurrentSigning: 16 goroutines sign through one key's
// session pool; every signature verifies.
func TestPKCS11ConcurrentSigning(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "concurrent", "rsa")
	pub := k.Public().(*rsa.PublicKey)
	signer := k.Signer()
	var wg sync.WaitGroup
	errs := make(chan error, 16*8)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 8 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := signer.Sign(rand.Reader, d[:], crypto.SHA256)
				if err == nil {
					err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPKCS11WrongPIN: a wrong PIN is ErrWrongPIN naming the URI, never
// the PIN.
func TestPKCS11WrongPIN(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "signing", "rsa")
	_ = k.Close()
	const wrong = "9999-wrong-PIN"
	_, err := Open(Options{Module: s.Module, URI: k.URI(), PIN: secret.FromString(wrong)})
	if !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("Open with a wrong PIN: %v, want ErrWrongPIN", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "pkcs11:token=samlkeyd;object=signing") || strings.Contains(msg, wrong) || strings.Contains(msg, testPIN) {
		t.Fatalf("error %q: want the URI and no PIN", msg)
	}
}

// TestPKCS11OpenErrors: the URI names a token or key that is not there,
// or a module that is not a PKCS#11 library.
func TestPKCS11OpenErrors(t *testing.T) {
	s := hsm(t)
	generate(t, s, "present", "rsa")
	pin := secret.FromString(testPIN)
	for _, tc := range []struct {
		name string
		o    Options
		want error
	}{
		{"no such token", Options{Module: s.Module, URI: URI{Token: "other", Object: "present"}, PIN: pin}, ErrTokenNotFound},
		{"no such key", Options{Module: s.Module, URI: URI{Token: testToken, Object: "absent"}, PIN: pin}, ErrKeyNotFound},
		{"no object in URI", Options{Module: s.Module, URI: URI{Token: testToken}, PIN: pin}, ErrKeyNotFound},
		{"not a module", Options{Module: "/etc/hostname", URI: URI{Token: testToken, Object: "present"}, PIN: pin}, ErrModule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.o)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.o.URI.String()) {
				t.Fatalf("Open: %v, want %v naming %s", err, tc.want, tc.o.URI)
			}
		})
	}
	t.Run("duplicate label", func(t *testing.T) {
		_, err := Generate(GenerateOptions{Options: Options{Module: s.Module, URI: URI{Token: testToken}, PIN: pin}, Label: "present", DName: "CN=x"})
		if !errors.Is(err, ErrObjectExists) {
			t.Fatalf("Generate over an existing label: %v, want ErrObjectExists", err)
		}
	})
	t.Run("caller chain that does not match", func(t *testing.T) {
		other, err := keys.Generate(keys.GenerateOptions{Alias: "x", DName: "CN=other"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Open(Options{Module: s.Module, URI: URI{Token: testToken, Object: "present"}, PIN: pin, Chain: other.Chain})
		if !errors.Is(err, ErrChainMismatch) {
			t.Fatalf("Open with another key's chain: %v, want ErrChainMismatch", err)
		}
	})
}

// TestPKCS11TokenRemoved: the token's directory is deleted under an open
// key; signing fails naming the URI, Reconnect fails while it is gone, and
// a token initialised again under the label without the key is
// ErrKeyNotFound.
func TestPKCS11TokenRemoved(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "vanishing", "rsa")
	d := sha256.Sum256([]byte("x"))
	if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(s.TokenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.TokenDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	_, err = k.Sign(nil, d[:], crypto.SHA256)
	if err == nil {
		// SoftHSM2 may keep serving a loaded key from memory; a
		// reconnect must then find the token gone.
		t.Log("SoftHSM2 still signed after the token directory was removed")
	} else if !strings.Contains(err.Error(), k.URI().String()) {
		t.Errorf("sign error %q does not name the URI", err)
	} else {
		t.Logf("sign with the token gone: %v", err)
	}
	err = k.Reconnect()
	t.Logf("reconnect with the token gone: %v", err)
	if !errors.Is(err, ErrTokenNotFound) || !strings.Contains(err.Error(), k.URI().String()) {
		t.Fatalf("Reconnect with the token gone: %v, want ErrTokenNotFound naming the URI", err)
	}
	if _, err := k.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, ErrTokenGone) {
		t.Fatalf("Sign after a failed reconnect: %v, want ErrTokenGone", err)
	}
	s.InitToken(t, testToken, testPIN, testSOPIN)
	if err := k.Reconnect(); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Reconnect to a new token without the key: %v, want ErrKeyNotFound", err)
	}
}

// TestPKCS11Reconnect: a key reconnects to the same token and signs again.
func TestPKCS11Reconnect(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "again", "rsa")
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("x"))
	if _, err := k.Sign(nil, d[:], crypto.SHA256); !errors.Is(err, ErrTokenGone) {
		t.Fatalf("Sign on a closed key: %v, want ErrTokenGone", err)
	}
	if err := k.Reconnect(); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("Sign after Reconnect: %v", err)
	}
}

// TestPKCS11CSR: keys.CSR makes a request through the token that openssl
// verifies, with the token certificate's subject.
func TestPKCS11CSR(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "renew-me", "rsa")
	csr, err := keys.CSR(&keys.Entry{Alias: "renew-me", Key: k.Signer(), Chain: k.Chain()}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "req.pem")
	if err := os.WriteFile(p, csr, 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, "openssl", "req", "-in", p, "-verify", "-noout", "-subject")
	if !strings.Contains(out, "verify OK") && !strings.Contains(out, "Certificate request self-signature verify OK") {
		t.Fatalf("openssl req -verify: %s", out)
	}
	if !strings.Contains(out, "CN = sp.example.com") {
		t.Fatalf("subject: %s", out)
	}
}

// TestPKCS11List: the listing shows the token, and with the PIN the key's
// flags, size and matching certificate.
func TestPKCS11List(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "listed", "rsa")
	ec := generate(t, s, "listed-ec", "ec")
	tokens, err := List(s.Module, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].Label != testToken || tokens[0].Manufacturer == "" || tokens[0].Serial == "" || tokens[0].Listed {
		t.Fatalf("List without PIN = %+v", tokens)
	}
	tokens, err = List(s.Module, ListOptions{Token: testToken, PIN: secret.FromString(testPIN)})
	if err != nil {
		t.Fatal(err)
	}
	byLabel := map[string]KeyInfo{}
	for _, ki := range tokens[0].Keys {
		byLabel[ki.Label] = ki
	}
	r, e := byLabel["listed"], byLabel["listed-ec"]
	if r.Type != "RSA" || r.Bits != 2048 || !r.Sensitive || r.Extractable || !r.NeverExtractable || !r.Sign || !r.Decrypt || !bytes.Equal(r.ID, k.URI().ID) {
		t.Errorf("RSA key = %+v", r)
	}
	if e.Type != "EC" || e.Bits != 256 || !e.Sensitive || e.Extractable || !e.Sign || e.Decrypt || !bytes.Equal(e.ID, ec.URI().ID) {
		t.Errorf("EC key = %+v", e)
	}
	if len(r.Certs) != 1 || r.Certs[0].Cert == nil || !r.Certs[0].Cert.Equal(k.Chain()[0]) {
		t.Errorf("RSA key certificates = %+v", r.Certs)
	}
	// With keys open this process is logged in already; close them so the
	// PIN is checked.
	_, _ = k.Close(), ec.Close()
	if _, err := List(s.Module, ListOptions{Token: testToken, PIN: secret.FromString("wrong-PIN")}); !errors.Is(err, ErrWrongPIN) {
		t.Errorf("List with a wrong PIN: %v, want ErrWrongPIN", err)
	}
}

// TestPKCS11ChainFromCaller: a chain stored with the record replaces the
// token's certificate.
func TestPKCS11ChainFromCaller(t *testing.T) {
	s := hsm(t)
	k := generate(t, s, "ca-signed", "rsa")
	_ = k.Close()
	ca, err := keys.Generate(keys.GenerateOptions{Alias: "ca", DName: "CN=Test CA"})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: k.Chain()[0].SerialNumber, Subject: k.Chain()[0].Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Leaf(), k.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	k2, err := Open(Options{Module: s.Module, URI: k.URI(), PIN: secret.FromString(testPIN), Chain: []*x509.Certificate{leaf, ca.Leaf()}})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if len(k2.Chain()) != 2 || !k2.Chain()[0].Equal(leaf) {
		t.Fatalf("chain = %v", k2.Chain())
	}
}
