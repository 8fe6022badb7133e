package metadata

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// TestLint maps each input to the exact rules it breaks, in order.
func TestLint(t *testing.T) {
	federation := func(in *Input) { in.SP = federationSP() }
	for _, tc := range []struct {
		name     string
		modify   func(*Input)
		profiles []Profile
		want     []string // "severity rule"
	}{
		{"every federation element", federation, nil, []string{
			"warning edugain.valid-until-min",
		}},
		{"every federation element, 6 days valid", func(in *Input) { federation(in); in.SP.Metadata.ValidFor = 144 * time.Hour }, nil, nil},
		{"plain metadata", func(*Input) {}, nil, []string{
			"error incommon.administrative-contact",
			"error incommon.security-contact",
			"error incommon.display-name",
			"error incommon.privacy-statement",
			"warning edugain.valid-until-min",
			"warning edugain.security-contact",
			"warning edugain.display-name-en",
		}},
		{"plain metadata, kantara only", func(*Input) {}, []Profile{ProfileKantara}, nil},
		{"validUntil 30 days out", func(in *Input) {
			federation(in)
			in.SP.Metadata.ValidFor, in.SP.Metadata.CacheDuration = 720*time.Hour, time.Hour
		}, []Profile{ProfileEduGAIN}, []string{"error edugain.valid-until-max"}},
		{"http endpoints and logo", func(in *Input) {
			federation(in)
			in.SP.ACS[1].Location = "http://sp.example.com/saml/acs/2"
			in.SP.UIInfo.Logos[0].URL = "http://sp.example.com/logo.png"
		}, []Profile{ProfileInCommon}, []string{"error incommon.https-endpoints", "warning incommon.https-ui-urls"}},
		{"sirtfi without a security contact", func(in *Input) {
			federation(in)
			in.SP.Contacts = in.SP.Contacts[:2]
		}, []Profile{ProfileEduGAIN}, []string{
			"warning edugain.valid-until-min",
			"warning edugain.security-contact",
			"error edugain.sirtfi-security-contact",
		}},
		{"no technical contact", func(in *Input) {
			federation(in)
			in.SP.Contacts = in.SP.Contacts[1:]
		}, []Profile{ProfileInCommon, ProfileEduGAIN}, []string{
			"error incommon.technical-contact",
			"warning edugain.valid-until-min",
			"error edugain.contact",
		}},
		{"no encryption key", func(in *Input) { in.Keys.Encryption = nil }, []Profile{ProfileKantara}, []string{"error kantara.encryption-key"}},
		{"signed with rsa-sha1", func(in *Input) {
			in.SP.Metadata.Signed = true
			in.SP.Metadata.SignatureAlgorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
		}, []Profile{ProfileKantara}, []string{"error kantara.no-sha1"}},
		{"1024-bit encryption key", func(in *Input) {
			in.Keys.Encryption = []*keys.Credential{rsaCred(t, 1024, keys.UseEncryption)}
		}, []Profile{ProfileKantara}, []string{"error kantara.key-size"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			tc.modify(&in)
			if in.SP.Metadata.SignatureAlgorithm != "" && fips.Algorithm(in.SP.Metadata.SignatureAlgorithm) != nil &&
				buildRefusedInFIPS(t, in, "FIPS 140-3 mode") {
				return // samlkeyd cannot make such metadata in FIPS 140-3 mode
			}
			p := mustBuild(t, in)
			findings, err := Lint(p.Metadata(), LintOptions{Profiles: tc.profiles, Now: clock})
			if err != nil {
				t.Fatalf("Lint: %v", err)
			}
			var got []string
			for _, f := range findings {
				got = append(got, string(f.Severity)+" "+f.Rule)
				if f.Message == "" || f.Source == "" || !strings.HasPrefix(f.Rule, string(f.Profile)+".") {
					t.Errorf("finding %+v lacks a message, a source or its profile", f)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s\n(%+v)", strings.Join(got, "\n"), strings.Join(tc.want, "\n"), findings)
			}
		})
	}
}

// TestLintMessages checks that findings name what to fix.
func TestLintMessages(t *testing.T) {
	in := testInput(t)
	in.SP.Metadata.ValidFor, in.SP.Metadata.CacheDuration = 720*time.Hour, time.Hour
	findings, err := Lint(mustBuild(t, in).Metadata(), LintOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"incommon.security-contact": "type security",
		"edugain.valid-until-max":   "720h0m0s after now, more than 28 days",
		"incommon.display-name":     "sp.ui_info.display_name",
	}
	for _, f := range findings {
		if s, ok := want[f.Rule]; ok {
			if !strings.Contains(f.Message, s) {
				t.Errorf("%s message %q does not say %q", f.Rule, f.Message, s)
			}
			delete(want, f.Rule)
		}
	}
	if len(want) > 0 {
		t.Errorf("no findings for %v", want)
	}
	for _, f := range findings {
		if f.Rule == "edugain.valid-until-max" && !strings.Contains(f.Source, "not later than 2304 hours (28 days)") {
			t.Errorf("eduGAIN window finding does not quote the rule: %q", f.Source)
		}
	}
}

func TestLintErrors(t *testing.T) {
	md := mustBuild(t, testInput(t)).Metadata()
	for _, tc := range []struct {
		name string
		doc  []byte
		opts LintOptions
		is   error
		msg  string
	}{
		{"unknown profile", md, LintOptions{Profiles: []Profile{"surf"}}, ErrUnknownProfile, `"surf"`},
		{"not XML", []byte("not xml"), LintOptions{}, nil, "parse metadata"},
		{"an IdP", []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:IDPSSODescriptor/></md:EntityDescriptor>`), LintOptions{}, nil, "0 SPSSODescriptor"},
		{"wrong namespace", []byte(`<EntityDescriptor xmlns="urn:x"/>`), LintOptions{}, nil, "not an md:EntityDescriptor"},
		{"too big", make([]byte, maxLintSize+1), LintOptions{}, nil, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Lint(tc.doc, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Lint error = %v, want %q (is %v)", err, tc.msg, tc.is)
			}
		})
	}
	if p, err := ParseProfile(" EduGAIN "); err != nil || p != ProfileEduGAIN {
		t.Errorf("ParseProfile(EduGAIN) = %q, %v", p, err)
	}
	if _, err := ParseProfile("swamid"); !errors.Is(err, ErrUnknownProfile) {
		t.Errorf("ParseProfile(swamid) error = %v", err)
	}
}

// rsaCred makes a self-signed RSA credential of the given size, valid
// around the test clock.
func rsaCred(t testing.TB, bits int, use keys.Use) *keys.Credential {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "small"}, NotBefore: clock.Add(-time.Hour), NotAfter: clock.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &keys.Credential{RecordID: "small", RecordName: "small", Use: use, Role: keys.RoleCurrent, Signer: key, Chain: []*x509.Certificate{cert}}
}
