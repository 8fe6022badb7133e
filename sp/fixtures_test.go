package sp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// fixedNow is the clock of every test that needs a stable IssueInstant.
var fixedNow = func() time.Time { return time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) }

// credential loads testdata/<name>.key and <name>.crt (made by gen.sh).
func credential(t testing.TB, name string) *keys.Credential {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join("testdata", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	crtPEM, err := os.ReadFile(filepath.Join("testdata", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(crtPEM)
	if kb == nil || cb == nil {
		t.Fatalf("testdata/%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatalf("testdata/%s.key: %v", name, err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatalf("testdata/%s.crt: %v", name, err)
	}
	return &keys.Credential{RecordID: name, RecordName: name, Use: keys.UseSigning, Role: keys.RoleCurrent,
		Signer: k.(crypto.Signer), Chain: []*x509.Certificate{cert}}
}

// keyFor returns the fixture key that fits an algorithm.
func keyFor(a Algorithm) string {
	if a.Key == KeyEC {
		return "ecp256"
	}
	return "rsa2048"
}

func testIdP(name string) config.IdP {
	return config.IdP{
		Name:              name,
		EntityID:          "https://idp.example.com/metadata",
		SSO:               config.Endpoint{Binding: BindingRedirect, Location: "https://idp.example.com/sso"},
		SLO:               config.Endpoint{Binding: BindingRedirect, Location: "https://idp.example.com/slo"},
		SignAuthnRequest:  true,
		SignLogoutRequest: true,
	}
}

func testSettings(t testing.TB, cred string) Settings {
	return Settings{
		EntityID: "https://sp.example.com/saml/metadata",
		ACS: []config.Endpoint{
			{Binding: BindingPOST, Location: "https://sp.example.com/saml/acs", Index: 0, Default: true},
			{Binding: BindingRedirect, Location: "https://sp.example.com/saml/acs-redirect", Index: 1},
		},
		IdPs:    []config.IdP{testIdP("corp")},
		Signing: credential(t, cred),
		Rand:    rand.NewChaCha8([32]byte{1}),
		Now:     fixedNow,
	}
}

func mustNew(t testing.TB, s Settings) *Service {
	t.Helper()
	svc, err := New(s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return svc
}

// logBuffer returns a logger that writes JSON lines into the buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewJSONHandler(&b, nil)), &b
}

// verifyRedirect checks a redirect-binding URL the way an IdP does, written
// from SAML bindings 3.4.4.1 with only crypto and net/url, not the signing
// code: it takes the raw, still URL-encoded SAMLRequest, RelayState and
// SigAlg parameters in that order, joins them with '&', and verifies the
// Signature over those octets with pub. It returns the signed octets and
// the decoded parameters; every SAML parameter must occur at most once.
func verifyRedirect(rawURL string, pub crypto.PublicKey) (signed string, params url.Values, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	raw := map[string]string{}
	count := map[string]int{}
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		count[k]++
		raw[k] = v
	}
	for _, k := range []string{"SAMLRequest", "RelayState", "SigAlg", "Signature"} {
		if count[k] > 1 {
			return "", nil, fmt.Errorf("%s occurs %d times", k, count[k])
		}
	}
	params, err = url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, err
	}
	if count["SigAlg"] != 1 || count["Signature"] != 1 {
		return "", params, errors.New("unsigned: no SigAlg or Signature")
	}
	signed = "SAMLRequest=" + raw["SAMLRequest"]
	if count["RelayState"] == 1 {
		signed += "&RelayState=" + raw["RelayState"]
	}
	signed += "&SigAlg=" + raw["SigAlg"]
	sig, err := base64.StdEncoding.DecodeString(params.Get("Signature"))
	if err != nil {
		return "", params, fmt.Errorf("signature base64: %w", err)
	}
	return signed, params, verifyRaw(params.Get("SigAlg"), pub, []byte(signed), sig)
}

// verifyRaw verifies a raw XML-DSig signature value (RSA PKCS#1 v1.5, or
// ECDSA r||s) with its own table of algorithm URIs.
func verifyRaw(sigAlg string, pub crypto.PublicKey, data, sig []byte) error {
	var digest []byte
	var h crypto.Hash
	switch {
	case strings.HasSuffix(sigAlg, "sha1"):
		s := sha1.Sum(data)
		digest, h = s[:], crypto.SHA1
	case strings.HasSuffix(sigAlg, "sha256"):
		s := sha256.Sum256(data)
		digest, h = s[:], crypto.SHA256
	case strings.HasSuffix(sigAlg, "sha384"):
		s := sha512.Sum384(data)
		digest, h = s[:], crypto.SHA384
	case strings.HasSuffix(sigAlg, "sha512"):
		s := sha512.Sum512(data)
		digest, h = s[:], crypto.SHA512
	default:
		return fmt.Errorf("verifier does not know SigAlg %q", sigAlg)
	}
	switch {
	case strings.Contains(sigAlg, "#rsa-"):
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("rsa SigAlg, non-RSA key")
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case strings.Contains(sigAlg, "#ecdsa-"):
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("ecdsa SigAlg, non-EC key")
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return fmt.Errorf("ecdsa signature is %d bytes, want r||s of %d", len(sig), 2*size)
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errors.New("ecdsa signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("verifier does not know SigAlg %q", sigAlg)
}

// inflate decodes a redirect binding's SAMLRequest parameter value.
func inflate(t testing.TB, samlRequest string) []byte {
	t.Helper()
	xml, err := inflateErr(samlRequest)
	if err != nil {
		t.Fatal(err)
	}
	return xml
}

func inflateErr(samlRequest string) ([]byte, error) {
	z, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		return nil, fmt.Errorf("SAMLRequest base64: %w", err)
	}
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		return nil, fmt.Errorf("SAMLRequest inflate: %w", err)
	}
	return x, nil
}

// xmlUnmarshalInflated inflates a redirect SAMLRequest and decodes it into
// v; it does not stop the test, so goroutines may call it.
func xmlUnmarshalInflated(samlRequest string, v any) error {
	x, err := inflateErr(samlRequest)
	if err != nil {
		return err
	}
	return xml.Unmarshal(x, v)
}
