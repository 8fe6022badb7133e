package mtls

import (
	"bufio"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

func loadPEM(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("testdata/%s: no PEM block", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return c
}

// TestDNNameMatchesOpenSSL renders a CertificateRequest-style DER name the
// way openssl does (-nameopt RFC2253), multi-valued RDN included.
func TestDNNameMatchesOpenSSL(t *testing.T) {
	bin := tooltest.Path(t, "openssl")
	c := loadPEM(t, "partner-ca.pem")
	out, err := exec.Command(bin, "x509", "-in", filepath.Join("testdata", "partner-ca.pem"), "-noout", "-subject", "-nameopt", "RFC2253").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(strings.TrimSpace(string(out)), "subject=")
	// RFC 2253 lets the members of a multi-valued RDN come in any order;
	// openssl reverses them, Go keeps the DER order.
	if got := dnName(c.RawSubject); normRDN(got) != normRDN(want) {
		t.Errorf("dnName %q, openssl %q", got, want)
	}
	if got := dnNames([][]byte{c.RawSubject, []byte("junk")}); len(got) != 2 || !strings.HasPrefix(got[1], "<unparsable name") {
		t.Errorf("dnNames with junk: %q", got)
	}
}

func normRDN(dn string) string {
	rdns := strings.Split(dn, ",")
	for i, r := range rdns {
		parts := strings.Split(r, "+")
		sort.Strings(parts)
		rdns[i] = strings.Join(parts, "+")
	}
	return strings.Join(rdns, ",")
}

func FuzzDNName(f *testing.F) {
	for _, name := range []string{"partner-ca.pem", "utf8-ca.pem"} {
		c := loadPEM(f, name)
		f.Add(c.RawSubject)
		f.Add(c.RawIssuer[:len(c.RawIssuer)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		s := dnName(der)
		var rdn pkix.RDNSequence
		rest, err := asn1.Unmarshal(der, &rdn)
		parsed := err == nil && len(rest) == 0
		if marked := strings.HasPrefix(s, "<unparsable name"); marked == parsed {
			t.Fatalf("dnName(%x) = %q, but the name parses: %v", der, s, parsed)
		}
		if !issuerAccepted(nil, nil) || issuerAccepted(nil, [][]byte{der}) {
			t.Fatal("issuerAccepted: an empty list accepts, an empty chain never matches")
		}
	})
}

func FuzzNewCheck(f *testing.F) {
	file, err := os.Open(filepath.Join("testdata", "checks.txt"))
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "\t", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		f.Add(parts[0], parts[1], parts[2])
	}
	file.Close()
	p := newPKI(f)
	prof := p.profile(f, p.good)
	profiles := map[string]*Profile{"mhttps": prof}
	f.Fuzz(func(t *testing.T, url, spec, method string) {
		sched, serr := config.ParseSchedule(spec) // nil on error: NewCheck must then refuse
		c, err := NewCheck(config.Check{Name: "fuzz", URL: url, Schedule: spec, ParsedSchedule: sched, Method: method, Profile: "mhttps"}, profiles)
		if err != nil {
			return
		}
		if serr != nil {
			t.Fatalf("accepted a check whose schedule %q does not parse: %v", spec, serr)
		}
		if c.target.Scheme != "https" || c.host == "" || c.port < 1 || c.port > 65535 || !isToken(c.method) {
			t.Fatalf("accepted %q %q %q as %s %s port %d", url, spec, method, c.method, c.target, c.port)
		}
		if next := c.schedule.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); next.IsZero() && !strings.Contains(spec, "@every") {
			t.Logf("spec %q never fires", spec)
		}
	})
}
