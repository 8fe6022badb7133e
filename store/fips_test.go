package store

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
)

// TestFIPSOpenSmallRSA: in FIPS 140-3 mode (a GODEBUG=fips140=on
// subprocess in a normal run) a record whose RSA key has fewer than 2048
// bits does not open as a credential, with an error naming the record;
// with the mode off it opens.
func TestFIPSOpenSmallRSA(t *testing.T) {
	in := fipstest.InMode(t)
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "old"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	r := &Record{ID: "0123456789abcdef0123456789abcdef", Name: "Old SP key", Type: TypePEM, Data: data}
	_, err = r.Credential(keys.UseSigning)
	if !in {
		if err != nil {
			t.Fatalf("open a 1024-bit record with the mode off: %v", err)
		}
		return
	}
	want := `open certificate record 0123456789abcdef0123456789abcdef ("Old SP key") as the signing key: an RSA key of 1024 bits is refused in FIPS 140-3 mode`
	if !errors.Is(err, fips.ErrRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("open in FIPS 140-3 mode: %v, want %q", err, want)
	}
}

// TestBaseFIPSKeystore has openssl read the _FIPS base keystore: PKCS#12
// with PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) and an HMAC-SHA-256 MAC,
// the key protection the reference's FIPS keystore implies.
func TestBaseFIPSKeystore(t *testing.T) {
	openssl := tooltest.Path(t, "openssl")
	s := open(t, Options{DataDir: filepath.Join(t.TempDir(), "data"), MasterKey: testMasterKey})
	r, err := s.Record(context.Background(), BaseFIPSID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != TypePKCS12 || r.Format != keys.FormatPKCS12 {
		t.Fatalf("%s is %s/%s, want pkcs12", r.Name, r.Type, r.Format)
	}
	path := filepath.Join(t.TempDir(), "fips.p12")
	if err := keys.WriteFile(path, r.Data); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(openssl, "pkcs12", "-info", "-noout", "-in", path, "-passin", "env:P12PASS")
	cmd.Env = append(os.Environ(), "P12PASS="+string(r.StorePassword.Reveal()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
	}
	for _, want := range []string{"MAC: sha256", "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC", "PRF hmacWithSHA256"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl pkcs12 -info lacks %q:\n%s", want, out)
		}
	}
}
