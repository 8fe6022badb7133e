package keys

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

func TestFingerprintForms(t *testing.T) {
	tests := []struct {
		name       string
		f          Fingerprint
		hex, colon string
	}{
		{"empty", nil, "", ""},
		{"one byte", Fingerprint{0xab}, "ab", "AB"},
		{"three bytes", Fingerprint{0x01, 0xab, 0xff}, "01abff", "01:AB:FF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Hex(); got != tt.hex {
				t.Errorf("Hex = %q, want %q", got, tt.hex)
			}
			if got := tt.f.Colon(); got != tt.colon {
				t.Errorf("Colon = %q, want %q", got, tt.colon)
			}
			if got := tt.f.String(); got != tt.hex {
				t.Errorf("String = %q, want %q", got, tt.hex)
			}
		})
	}
}

// TestFingerprintOpenSSL checks both digests against openssl x509
// -fingerprint, which prints the colon form.
func TestFingerprintOpenSSL(t *testing.T) {
	openssl := tooltest.Path(t, "openssl")
	for _, path := range []string{filepath.Join("testdata", "leaf.pem"), filepath.Join("testdata", "ec-cert.pem")} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(data)
		if b == nil {
			t.Fatalf("%s: no PEM", path)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for digest, f := range map[string]Fingerprint{"-sha1": SHA1Fingerprint(c), "-sha256": SHA256Fingerprint(c)} {
			out, err := exec.Command(openssl, "x509", "-in", path, "-noout", "-fingerprint", digest).Output()
			if err != nil {
				t.Fatalf("openssl %s: %v", digest, err)
			}
			_, want, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
			if f.Colon() != want {
				t.Errorf("%s %s: Colon %q, openssl %q", path, digest, f.Colon(), want)
			}
			if f.Hex() != strings.ToLower(strings.ReplaceAll(want, ":", "")) {
				t.Errorf("%s %s: Hex %q", path, digest, f.Hex())
			}
		}
		if FingerprintSHA256(c) != SHA256Fingerprint(c).Hex() {
			t.Error("FingerprintSHA256 is not the SHA-256 Hex form")
		}
	}
}
