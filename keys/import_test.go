package keys

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// testCA is the fixture chain's root and intermediate with the
// intermediate's key, to sign replies in tests.
type testCA struct {
	root, inter *x509.Certificate
	interKey    any
}

func loadTestCA(t *testing.T) testCA {
	t.Helper()
	root, err := ParseCertificates(readFixture(t, "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	inter, err := ParseCertificates(readFixture(t, "intermediate.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(readFixture(t, "intermediate-key.pem"))
	key, err := parsePrivateKeyDER(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{root: root[0], inter: inter[0], interKey: key}
}

// sign issues a certificate for the CSR from the intermediate, as a CA
// answering a request would.
func (ca testCA) sign(t *testing.T, csrPEM []byte, notAfter time.Time) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      csr.Subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.inter, csr.PublicKey, ca.interKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestImportReply(t *testing.T) {
	ca := loadTestCA(t)
	other, err := ParseCertificates(readFixture(t, "leaf.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		trusted   []*x509.Certificate // imported first, as root, intermediate, …
		reply     func(signed *x509.Certificate) []*x509.Certificate
		wantErr   error
		errText   string
		wantChain int
	}{
		{"documented order: root, intermediate, reply", []*x509.Certificate{ca.root, ca.inter},
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{s} }, nil, "", 3},
		{"reply bundle carries the whole chain", nil,
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{ca.root, s, ca.inter} }, nil, "", 3},
		{"bundle of reply and intermediate, root trusted", []*x509.Certificate{ca.root},
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{s, ca.inter} }, nil, "", 3},
		{"reply before root and intermediate", nil,
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{s} }, ErrReplyNoChain, "Example Intermediate CA", 0},
		{"intermediate missing", []*x509.Certificate{ca.root},
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{s} }, ErrReplyNoChain, "import the root and intermediate", 0},
		{"root missing", []*x509.Certificate{ca.inter},
			func(s *x509.Certificate) []*x509.Certificate { return []*x509.Certificate{s} }, ErrReplyNoChain, "Example Root CA", 0},
		{"reply for another key", []*x509.Certificate{ca.root, ca.inter},
			func(*x509.Certificate) []*x509.Certificate { return other }, ErrReplyKeyMismatch, "another keystore", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Generate(GenerateOptions{Alias: "letstestcba", DName: "CN=sp.example.com,O=Example,C=US"})
			if err != nil {
				t.Fatal(err)
			}
			ks := &Keystore{Format: FormatJKS, Entries: []*Entry{e}}
			for i, c := range tt.trusted {
				if err := ks.ImportTrusted([]string{"root", "intermediate"}[i], c); err != nil {
					t.Fatal(err)
				}
			}
			csr, err := CSR(e, nil)
			if err != nil {
				t.Fatal(err)
			}
			signed := ca.sign(t, csr, time.Now().Add(24*time.Hour))
			before := e.Leaf()
			err = ks.ImportReply("LetsTestCBA", tt.reply(signed))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.wantErr, tt.errText)
				}
				if len(e.Chain) != 1 || e.Leaf() != before {
					t.Error("a refused reply changed the entry")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Chain) != tt.wantChain || !e.Leaf().Equal(signed) {
				t.Fatalf("chain length %d leaf %s, want %d with the reply first", len(e.Chain), e.Leaf().Subject, tt.wantChain)
			}
			if r := Validate(ks, time.Now()); !r.Valid() {
				t.Errorf("Validate after import: %v", r.Problems)
			}
		})
	}
}

func TestImportTrustedAliasExists(t *testing.T) {
	ca := loadTestCA(t)
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	ks := &Keystore{Format: FormatPKCS12, Now: func() time.Time { return at }}
	if err := ks.ImportTrusted("Root", ca.root); err != nil {
		t.Fatal(err)
	}
	if !ks.Entries[0].Created.Equal(at) {
		t.Errorf("created %v, want the injected %v", ks.Entries[0].Created, at)
	}
	if err := ks.ImportTrusted("root", ca.inter); !errors.Is(err, ErrAliasExists) {
		t.Fatalf("err = %v, want ErrAliasExists", err)
	}
	if len(ks.Entries) != 1 {
		t.Errorf("%d entries, want 1", len(ks.Entries))
	}
}

func TestValidate(t *testing.T) {
	ca := loadTestCA(t)
	now := time.Now()
	fresh := func(t *testing.T) *Entry {
		e, err := Generate(GenerateOptions{Alias: "a", DName: "CN=sp.example.com", ValidityDays: 10, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	chained := func(t *testing.T) *Entry {
		e := fresh(t)
		csr, err := CSR(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.Chain = []*x509.Certificate{ca.sign(t, csr, now.Add(48*time.Hour)), ca.inter, ca.root}
		return e
	}
	weak, err := Parse(readFixture(t, "weak.pem"), noPass, noPass)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		ks       func(t *testing.T) *Keystore
		at       time.Time
		problems []string
		warnings []string
	}{
		{"fresh self-signed", func(t *testing.T) *Keystore { return &Keystore{Entries: []*Entry{fresh(t)}} }, now, nil, nil},
		{"CA-signed with full chain", func(t *testing.T) *Keystore { return &Keystore{Entries: []*Entry{chained(t)}} }, now, nil, nil},
		{"expired", func(t *testing.T) *Keystore { return &Keystore{Entries: []*Entry{fresh(t)}} }, now.AddDate(0, 0, 11), []string{"expired on"}, nil},
		{"not yet valid", func(t *testing.T) *Keystore { return &Keystore{Entries: []*Entry{fresh(t)}} }, now.Add(-time.Hour), []string{"not valid before"}, nil},
		{"chain out of order", func(t *testing.T) *Keystore {
			e := chained(t)
			e.Chain[1], e.Chain[2] = e.Chain[2], e.Chain[1]
			return &Keystore{Entries: []*Entry{e}}
		}, now, []string{"out of order", "out of order", "chain incomplete"}, nil},
		{"chain incomplete", func(t *testing.T) *Keystore {
			e := chained(t)
			e.Chain = e.Chain[:1]
			return &Keystore{Entries: []*Entry{e}}
		}, now, []string{"chain incomplete"}, nil},
		{"chain completed by trusted entries", func(t *testing.T) *Keystore {
			e := chained(t)
			e.Chain = e.Chain[:2]
			return &Keystore{Entries: []*Entry{e, {Alias: "root", Chain: []*x509.Certificate{ca.root}}}}
		}, now, nil, nil},
		{"key does not match leaf", func(t *testing.T) *Keystore {
			a, b := fresh(t), fresh(t)
			a.Key = b.Key
			return &Keystore{Entries: []*Entry{a}}
		}, now, []string{"does not match"}, nil},
		{"no private key", func(t *testing.T) *Keystore {
			return &Keystore{Entries: []*Entry{{Alias: "root", Chain: []*x509.Certificate{ca.root}}}}
		}, now, []string{"no private-key entry"}, nil},
		{"1024-bit RSA, SHA-1", func(t *testing.T) *Keystore { return weak }, now, nil, []string{"1024 bits", "SHA1-RSA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Validate(tt.ks(t), tt.at)
			check := func(kind string, got, want []string) {
				if len(got) != len(want) {
					t.Fatalf("%s = %q, want %d containing %q", kind, got, len(want), want)
				}
				for i := range want {
					if !strings.Contains(got[i], want[i]) {
						t.Errorf("%s[%d] = %q, want it to contain %q", kind, i, got[i], want[i])
					}
				}
			}
			check("problems", r.Problems, tt.problems)
			check("warnings", r.Warnings, tt.warnings)
			if r.Valid() != (len(tt.problems) == 0) {
				t.Errorf("Valid() = %v", r.Valid())
			}
		})
	}
}

var noPass = secret.Value{}

func TestDescribeCertificate(t *testing.T) {
	ca := loadTestCA(t)
	for _, tt := range []struct {
		c    *x509.Certificate
		want string
	}{
		{ca.root, ca.root.Subject.String() + ": self-signed, "},
		{ca.inter, ca.inter.Subject.String() + ": issued by " + ca.root.Subject.String() + ", "},
	} {
		got := DescribeCertificate(tt.c)
		if !strings.HasPrefix(got, tt.want) || !strings.Contains(got, "-bit ") || !strings.Contains(got, tt.c.SignatureAlgorithm.String()) ||
			!strings.Contains(got, tt.c.NotAfter.UTC().Format(time.RFC3339)) {
			t.Errorf("DescribeCertificate = %q, want it to start %q and give key, algorithm and dates", got, tt.want)
		}
	}
}

func TestValidateTrustStore(t *testing.T) {
	ca := loadTestCA(t)
	key, err := Parse(readFixture(t, "ec-sec1.pem"), noPass, noPass)
	if err != nil {
		t.Fatal(err)
	}
	forged := *ca.root
	forged.Signature = append([]byte{}, ca.root.Signature...)
	forged.Signature[10] ^= 1
	tests := []struct {
		name     string
		ks       *Keystore
		at       time.Time
		problems []string
	}{
		{"self-signed signature broken", &Keystore{Entries: []*Entry{{Alias: "root", Chain: []*x509.Certificate{&forged}}}}, time.Now(), []string{"self-signed certificate does not verify"}},
		{"root and intermediate", &Keystore{Entries: []*Entry{{Alias: "root", Chain: []*x509.Certificate{ca.root}}, {Alias: "i", Chain: []*x509.Certificate{ca.inter}}}}, time.Now(), nil},
		{"expired", &Keystore{Entries: []*Entry{{Alias: "root", Chain: []*x509.Certificate{ca.root}}}}, ca.root.NotAfter.Add(time.Second), []string{"expired on"}},
		{"holds a private key", key, time.Now(), []string{"holds a private key"}},
		{"empty", &Keystore{}, time.Now(), []string{"no certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ValidateTrustStore(tt.ks, tt.at)
			if len(r.Problems) != len(tt.problems) {
				t.Fatalf("problems = %q, want %q", r.Problems, tt.problems)
			}
			for i := range tt.problems {
				if !strings.Contains(r.Problems[i], tt.problems[i]) {
					t.Errorf("problem %q, want %q", r.Problems[i], tt.problems[i])
				}
			}
		})
	}
}
