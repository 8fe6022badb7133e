package metadata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestBuildGolden compares the whole document with golden files. RSA
// PKCS#1 v1.5 signatures are deterministic, so the signed one is golden too.
func TestBuildGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signed bool
		file   string
		output func(*Published) []byte
	}{
		{"unsigned", false, "golden-unsigned.xml", (*Published).Metadata},
		{"signed-rsa-sha256", true, "golden-signed-rsa-sha256.xml", (*Published).Metadata},
		{"certificate index", false, "golden-certs.json", (*Published).CertsJSON},
		{"federation", true, "golden-federation.xml", (*Published).Metadata},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			if tc.name == "federation" {
				in.SP = federationSP()
			}
			in.SP.Metadata.Signed = tc.signed
			got := tc.output(mustBuild(t, in))
			golden := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./metadata -run Golden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s:\n%s", golden, got)
			}
		})
	}
}

// TestBuildCrewjamParse parses the output with an independent
// implementation (crewjam/saml) and checks every field.
func TestBuildCrewjamParse(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "signed"}[signed], func(t *testing.T) {
			in := testInput(t)
			in.SP.Metadata.Signed = signed
			p := mustBuild(t, in)
			var ed saml.EntityDescriptor
			if err := xml.Unmarshal(p.Metadata(), &ed); err != nil {
				t.Fatalf("crewjam cannot parse the metadata: %v", err)
			}
			check := func(field string, got, want any) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %v, want %v", field, got, want)
				}
			}
			check("EntityID", ed.EntityID, "https://sp.example.com/saml/metadata")
			check("ID non-empty", ed.ID != "", true)
			check("ValidUntil", ed.ValidUntil.Equal(clock.Add(48*time.Hour)), true)
			check("CacheDuration", ed.CacheDuration, 24*time.Hour)
			check("SPSSODescriptors", len(ed.SPSSODescriptors), 1)
			sd := ed.SPSSODescriptors[0]
			check("protocolSupportEnumeration", sd.ProtocolSupportEnumeration, "urn:oasis:names:tc:SAML:2.0:protocol")
			check("AuthnRequestsSigned", *sd.AuthnRequestsSigned, true)
			check("WantAssertionsSigned", *sd.WantAssertionsSigned, true)
			check("KeyDescriptors", len(sd.KeyDescriptors), 2)
			wantCert := map[string]string{
				"signing":    base64.StdEncoding.EncodeToString(in.Keys.Signing[0].Leaf().Raw),
				"encryption": base64.StdEncoding.EncodeToString(in.Keys.Encryption[0].Leaf().Raw),
			}
			for i, kd := range sd.KeyDescriptors {
				check("KeyDescriptor use order", kd.Use, []string{"signing", "encryption"}[i])
				check("X509Certificates", len(kd.KeyInfo.X509Data.X509Certificates), 1)
				check(kd.Use+" certificate", kd.KeyInfo.X509Data.X509Certificates[0].Data, wantCert[kd.Use])
				methods := len(kd.EncryptionMethods)
				if kd.Use == "signing" {
					check("signing EncryptionMethods", methods, 0)
					continue
				}
				check("EncryptionMethods", methods, 2)
				check("EncryptionMethod[0]", kd.EncryptionMethods[0].Algorithm, encAES256GCM)
				check("EncryptionMethod[1]", kd.EncryptionMethods[1].Algorithm, encRSAOAEP)
			}
			check("SLO", len(sd.SingleLogoutServices), 2)
			check("SLO[0].Binding", sd.SingleLogoutServices[0].Binding, saml.HTTPRedirectBinding)
			check("SLO[0].Location", sd.SingleLogoutServices[0].Location, "https://sp.example.com/saml/slo")
			check("SLO[0].ResponseLocation", sd.SingleLogoutServices[0].ResponseLocation, "https://sp.example.com/saml/slo/done")
			check("SLO[1].ResponseLocation", sd.SingleLogoutServices[1].ResponseLocation, "")
			check("SLO[1].Binding", sd.SingleLogoutServices[1].Binding, saml.HTTPPostBinding)
			check("NameIDFormats", len(sd.NameIDFormats), 2)
			check("NameIDFormat[0]", string(sd.NameIDFormats[0]), "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
			check("NameIDFormat[1]", string(sd.NameIDFormats[1]), "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent")
			check("ACS", len(sd.AssertionConsumerServices), 2)
			acs := sd.AssertionConsumerServices
			check("ACS[0].Binding", acs[0].Binding, saml.HTTPPostBinding)
			check("ACS[0].Location", acs[0].Location, "https://sp.example.com/saml/acs")
			check("ACS[0].Index", acs[0].Index, 0)
			check("ACS[0].IsDefault", acs[0].IsDefault != nil && *acs[0].IsDefault, true)
			check("ACS[1].Binding", acs[1].Binding, saml.HTTPPostBinding)
			check("ACS[1].Index", acs[1].Index, 1)
			check("ACS[1].IsDefault", acs[1].IsDefault == nil || !*acs[1].IsDefault, true)
			if ed.Organization == nil {
				t.Fatal("Organization missing")
			}
			o := ed.Organization
			check("OrganizationName", o.OrganizationNames[0].Value, "Example & Sons")
			check("OrganizationName lang", o.OrganizationNames[0].Lang, "en")
			check("OrganizationDisplayName", o.OrganizationDisplayNames[0].Value, "Example <SSO>")
			check("OrganizationURL", o.OrganizationURLs[0].Value, "https://example.com/")
			if ed.ContactPerson == nil {
				t.Fatal("ContactPerson missing")
			}
			c := ed.ContactPerson
			check("contactType", c.ContactType, "technical")
			check("Company", c.Company, "Example")
			check("GivenName", c.GivenName, "Ada")
			check("SurName", c.SurName, "Lovelace")
			check("EmailAddress", strings.Join(c.EmailAddresses, ","), "mailto:sso@example.com")
			check("TelephoneNumber", strings.Join(c.TelephoneNumbers, ","), "+1 555 0100")
		})
	}
}

type descriptor struct{ use, cert string }

// descriptors returns the KeyDescriptors of metadata, in document order,
// failing when one holds other than exactly one certificate.
func descriptors(t *testing.T, md []byte) []descriptor {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		t.Fatal(err)
	}
	var out []descriptor
	for _, kd := range doc.FindElements("/EntityDescriptor/SPSSODescriptor/KeyDescriptor") {
		certs := kd.FindElements("KeyInfo/X509Data/X509Certificate")
		if len(certs) != 1 {
			t.Fatalf("KeyDescriptor use=%s holds %d certificates, want 1", kd.SelectAttrValue("use", ""), len(certs))
		}
		out = append(out, descriptor{kd.SelectAttrValue("use", ""), certs[0].Text()})
	}
	return out
}

func b64(c *keys.Credential) string { return base64.StdEncoding.EncodeToString(c.Leaf().Raw) }

// pemBase64 returns the base64 of each CERTIFICATE block of a PEM file,
// unwrapped, checking the file is nothing but such blocks.
func pemBase64(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for len(bytes.TrimSpace(data)) > 0 {
		b, rest := pem.Decode(data)
		if b == nil || b.Type != "CERTIFICATE" || len(b.Headers) != 0 {
			t.Fatalf("PEM file holds something other than CERTIFICATE blocks: %q", data)
		}
		out = append(out, base64.StdEncoding.EncodeToString(b.Bytes))
		data = rest
	}
	return out
}

func TestBuildKeyDescriptors(t *testing.T) {
	sign := loadCred(t, "rsa-signing", keys.UseSigning, keys.RoleCurrent)
	signNext := loadCred(t, "rsa-signing-next", keys.UseSigning, keys.RoleNext)
	signPrev := genCred(t, "previous signing", keys.UseSigning, keys.RolePrevious, clock.Add(-time.Hour), clock.Add(90*24*time.Hour))
	enc := loadCred(t, "rsa-encryption", keys.UseEncryption, keys.RoleCurrent)
	encPrev := genCred(t, "previous encryption", keys.UseEncryption, keys.RolePrevious, clock.Add(-time.Hour), clock.Add(90*24*time.Hour))
	sameAsSigning := *sign
	sameAsSigning.Use = keys.UseEncryption

	for _, tc := range []struct {
		name                string
		signing, encryption []*keys.Credential
		want                []descriptor
	}{
		{"separate keys", []*keys.Credential{sign}, []*keys.Credential{enc},
			[]descriptor{{"signing", b64(sign)}, {"encryption", b64(enc)}}},
		{"one key for both (the upgrade copy)", []*keys.Credential{sign}, []*keys.Credential{&sameAsSigning},
			[]descriptor{{"signing", b64(sign)}, {"encryption", b64(sign)}}},
		{"rollover ordered current next previous", []*keys.Credential{sign, signNext, signPrev}, []*keys.Credential{enc, encPrev},
			[]descriptor{{"signing", b64(sign)}, {"signing", b64(signNext)}, {"signing", b64(signPrev)}, {"encryption", b64(enc)}, {"encryption", b64(encPrev)}}},
		{"unordered input is put current first", []*keys.Credential{signPrev, signNext, sign}, []*keys.Credential{encPrev, enc},
			[]descriptor{{"signing", b64(sign)}, {"signing", b64(signNext)}, {"signing", b64(signPrev)}, {"encryption", b64(enc)}, {"encryption", b64(encPrev)}}},
		{"no encryption key", []*keys.Credential{sign}, nil,
			[]descriptor{{"signing", b64(sign)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			in.Keys = &keys.KeySet{Signing: tc.signing, Encryption: tc.encryption}
			p := mustBuild(t, in)
			got := descriptors(t, p.Metadata())
			if len(got) != len(tc.want) {
				t.Fatalf("got %d KeyDescriptors, want %d", len(got), len(tc.want))
			}
			var wantPEM = map[keys.Use][]string{}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("KeyDescriptor %d = %s %.20s…, want %s %.20s…", i, got[i].use, got[i].cert, tc.want[i].use, tc.want[i].cert)
				}
				wantPEM[keys.Use(got[i].use)] = append(wantPEM[keys.Use(got[i].use)], got[i].cert)
			}
			// The PEM files are exactly the metadata's base64, current first;
			// the .crt is the DER of the current one.
			for _, u := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
				pemFile, der := p.PEM(u), p.DER(u)
				if len(wantPEM[u]) == 0 {
					if pemFile != nil || der != nil {
						t.Errorf("%s: PEM/DER served for a use with no key", u)
					}
					continue
				}
				if got := pemBase64(t, pemFile); strings.Join(got, "|") != strings.Join(wantPEM[u], "|") {
					t.Errorf("%s.pem does not match the metadata certificates in order", u)
				}
				if base64.StdEncoding.EncodeToString(der) != wantPEM[u][0] {
					t.Errorf("%s.crt is not the current certificate", u)
				}
			}
		})
	}
}

func TestBuildValidUntil(t *testing.T) {
	for _, tc := range []struct {
		name          string
		notAfter      time.Time // of an extra previous encryption certificate
		validFor      time.Duration
		cache         time.Duration
		wantUntil     time.Time
		wantMaxAge    time.Duration
		wantCacheAttr string
	}{
		{"valid_for wins", clock.Add(1000 * time.Hour), 48 * time.Hour, 24 * time.Hour, clock.Add(48 * time.Hour), 24 * time.Hour, "PT24H"},
		{"capped by not-after", clock.Add(10*time.Hour + 30*time.Minute + 500*time.Millisecond), 48 * time.Hour, 24 * time.Hour, clock.Add(10*time.Hour + 30*time.Minute), 10*time.Hour + 30*time.Minute, "PT24H"},
		{"defaults when zero", clock.Add(1000 * time.Hour), 0, 0, clock.Add(DefaultValidFor), DefaultCacheDuration, "PT24H"},
		{"odd cache duration", clock.Add(1000 * time.Hour), 48 * time.Hour, 90*time.Minute + 1500*time.Millisecond, clock.Add(48 * time.Hour), 90*time.Minute + time.Second, "PT1H30M1.5S"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			in.SP.Metadata.ValidFor, in.SP.Metadata.CacheDuration = tc.validFor, tc.cache
			in.Keys.Encryption = append(in.Keys.Encryption, genCred(t, "short", keys.UseEncryption, keys.RolePrevious, clock.Add(-time.Hour), tc.notAfter))
			p := mustBuild(t, in)
			if !p.ValidUntil().Equal(tc.wantUntil) {
				t.Errorf("ValidUntil = %s, want %s", p.ValidUntil(), tc.wantUntil)
			}
			if want := clock.Add(tc.wantUntil.Sub(clock) / 2); !p.RefreshAt().Equal(want) {
				t.Errorf("RefreshAt = %s, want %s (halfway)", p.RefreshAt(), want)
			}
			if p.CacheMaxAge() != tc.wantMaxAge {
				t.Errorf("CacheMaxAge = %s, want %s", p.CacheMaxAge(), tc.wantMaxAge)
			}
			var ed saml.EntityDescriptor
			if err := xml.Unmarshal(p.Metadata(), &ed); err != nil {
				t.Fatal(err)
			}
			if !ed.ValidUntil.Equal(tc.wantUntil) {
				t.Errorf("validUntil attribute = %s, want %s", ed.ValidUntil, tc.wantUntil)
			}
			for _, c := range in.Keys.Encryption {
				if ed.ValidUntil.After(c.Leaf().NotAfter) {
					t.Errorf("validUntil %s is after not-after %s of %s", ed.ValidUntil, c.Leaf().NotAfter, c.RecordName)
				}
			}
			if !bytes.Contains(p.Metadata(), []byte(`cacheDuration="`+tc.wantCacheAttr+`"`)) {
				t.Errorf("cacheDuration attribute is not %s", tc.wantCacheAttr)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	ec := loadCred(t, "ec-signing", keys.UseSigning, keys.RoleCurrent)
	for _, tc := range []struct {
		name   string
		modify func(in *Input)
		want   error
		msg    string
	}{
		{"no key set", func(in *Input) { in.Keys = nil }, ErrInvalidInput, "no key set"},
		{"empty entity id", func(in *Input) { in.SP.EntityID = "" }, ErrInvalidInput, "sp.entity_id"},
		{"no acs", func(in *Input) { in.SP.ACS = nil }, ErrInvalidInput, "sp.acs"},
		{"bad binding", func(in *Input) { in.SP.ACS[0].Binding = "carrier-pigeon" }, ErrInvalidInput, "sp.acs[0].binding"},
		{"artifact acs", func(in *Input) { in.SP.ACS[1].Binding = "artifact" }, ErrInvalidInput, "sp.acs[1].binding"},
		{"artifact acs urn", func(in *Input) { in.SP.ACS[1].Binding = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" }, ErrInvalidInput, "sp.acs[1].binding"},
		{"soap slo", func(in *Input) { in.SP.SLO[0].Binding = "soap" }, ErrInvalidInput, "sp.slo[0].binding"},
		{"paos acs", func(in *Input) { in.SP.ACS[0].Binding = "PAOS" }, ErrInvalidInput, "sp.acs[0].binding"},
		{"relative response location", func(in *Input) { in.SP.SLO[0].ResponseLocation = "/done" }, ErrInvalidInput, "sp.slo[0].response_location"},
		{"relative location", func(in *Input) { in.SP.SLO[1].Location = "/slo" }, ErrInvalidInput, "sp.slo[1].location"},
		{"non-http location", func(in *Input) { in.SP.ACS[0].Location = "ftp://sp.example.com/acs" }, ErrInvalidInput, "sp.acs[0].location"},
		{"duplicate acs index", func(in *Input) { in.SP.ACS[1].Index = 0 }, ErrInvalidInput, "sp.acs[1].index"},
		{"two defaults", func(in *Input) { in.SP.ACS[1].Default = true }, ErrInvalidInput, "more than one endpoint"},
		{"control character", func(in *Input) { in.SP.Organization.Name = "a\x00b" }, ErrInvalidInput, "sp.organization"},
		{"bad contact type", func(in *Input) { in.SP.Contacts[0].Type = "boss" }, ErrInvalidInput, "sp.contacts[0].type"},
		{"security contact without e-mail", func(in *Input) { in.SP.Contacts[0] = config.Contact{Type: "security", GivenName: "CSIRT"} }, ErrInvalidInput, "sp.contacts[0].email"},
		{"bad display name language", func(in *Input) { in.SP = federationSP(); in.SP.UIInfo.DisplayName["en us"] = "x" }, ErrInvalidInput, `sp.ui_info.display_name.en us`},
		{"relative privacy URL", func(in *Input) { in.SP = federationSP(); in.SP.UIInfo.PrivacyStatementURL["en"] = "/privacy" }, ErrInvalidInput, "sp.ui_info.privacy_statement_url.en"},
		{"logo without size", func(in *Input) { in.SP = federationSP(); in.SP.UIInfo.Logos[1].Height = 0 }, ErrInvalidInput, "sp.ui_info.logos[1]"},
		{"requested attribute without name", func(in *Input) { in.SP = federationSP(); in.SP.RequestedAttributes[1].Name = "" }, ErrInvalidInput, "sp.requested_attributes[1]"},
		{"requested attributes without display name", func(in *Input) { in.SP = federationSP(); in.SP.UIInfo.DisplayName = nil }, ErrInvalidInput, "sp.ui_info.display_name"},
		{"entity category not a URI", func(in *Input) { in.SP = federationSP(); in.SP.EntityCategories[1] = "r&s" }, ErrInvalidInput, "sp.entity_categories[1]"},
		{"assurance certification with a space", func(in *Input) {
			in.SP = federationSP()
			in.SP.AssuranceCertifications[0] = "https://refeds.org/ sirtfi"
		}, ErrInvalidInput, "sp.assurance_certifications[0]"},
		{"relative discovery response", func(in *Input) { in.SP = federationSP(); in.SP.DiscoveryResponse[1] = "/disco" }, ErrInvalidInput, "sp.discovery_response[1]"},
		{"bad encryption method", func(in *Input) { in.EncryptionMethods = []string{"aes"} }, ErrInvalidInput, "encryption method 0"},
		{"expired certificate", func(in *Input) {
			in.Keys.Encryption = append(in.Keys.Encryption, genCred(t, "old", keys.UseEncryption, keys.RolePrevious, clock.Add(-48*time.Hour), clock.Add(-time.Hour)))
		}, ErrExpired, `encryption record "old" (previous)`},
		{"not yet valid", func(in *Input) {
			in.Keys.Signing = append(in.Keys.Signing, genCred(t, "future", keys.UseSigning, keys.RoleNext, clock.Add(time.Hour), clock.Add(48*time.Hour)))
		}, ErrExpired, `signing record "future" (next)`},
		{"two current", func(in *Input) {
			in.Keys.Signing = append(in.Keys.Signing, loadCred(t, "rsa-signing-next", keys.UseSigning, keys.RoleCurrent))
		}, ErrInvalidInput, "2 current signing"},
		{"unknown role", func(in *Input) { in.Keys.Signing[0].Role = "spare" }, ErrInvalidInput, `unknown role "spare"`},
		{"use mismatch", func(in *Input) { in.Keys.Signing[0].Use = keys.UseEncryption }, ErrInvalidInput, "listed for signing but marked encryption"},
		{"authn requests signed without key", func(in *Input) { in.Keys.Signing = nil }, ErrInvalidInput, "AuthnRequestsSigned"},
		{"signed without current key", func(in *Input) {
			in.AuthnRequestsSigned = false
			in.SP.Metadata.Signed = true
			in.Keys.Signing[0].Role = keys.RoleNext
		}, ErrInvalidInput, "no current signing credential"},
		{"rsa algorithm with ec key", func(in *Input) {
			in.SP.Metadata.Signed = true
			in.SP.Metadata.SignatureAlgorithm = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
			in.Keys.Signing = []*keys.Credential{ec}
		}, ErrSign, "incompatible"},
		{"key does not match certificate", func(in *Input) {
			in.SP.Metadata.Signed = true
			mismatched := *in.Keys.Signing[0]
			mismatched.Signer = ec.Signer
			in.Keys.Signing = []*keys.Credential{&mismatched}
		}, ErrSign, "does not match the certificate"},
		{"entity id too long", func(in *Input) { in.SP.EntityID = "https://sp.example.com/" + strings.Repeat("a", 1024) }, ErrInvalidInput, "sp.entity_id"},
		{"unknown algorithm", func(in *Input) {
			in.SP.Metadata.Signed = true
			in.SP.Metadata.SignatureAlgorithm = "urn:none"
		}, ErrSign, "sp.metadata.signature_algorithm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			tc.modify(&in)
			p, err := Build(in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Build error = %v, want %v", err, tc.want)
			}
			if p != nil {
				t.Error("Build returned a rendering with its error")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not name %q", err, tc.msg)
			}
		})
	}
}

func TestBuildSHA1Warns(t *testing.T) {
	in := testInput(t)
	in.SP.Metadata.Signed = true
	in.SP.Metadata.SignatureAlgorithm = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	if buildRefusedInFIPS(t, in, "rsa-sha1") {
		return // refused, not warned about, in FIPS 140-3 mode
	}
	p := mustBuild(t, in)
	if w := p.Warnings(); len(w) != 1 || !strings.Contains(w[0], "deprecated") {
		t.Errorf("Warnings = %q, want one about the deprecated algorithm", w)
	}
	if w := mustBuild(t, testInput(t)).Warnings(); len(w) != 0 {
		t.Errorf("unsigned rendering warns: %q", w)
	}
}

func TestCertIndex(t *testing.T) {
	in := testInput(t)
	in.Keys.Signing = append(in.Keys.Signing, loadCred(t, "rsa-signing-next", keys.UseSigning, keys.RoleNext))
	p := mustBuild(t, in)
	h := NewHandler(fixedSource{p}, nil)
	var idx struct {
		EntityID         string     `json:"entity_id"`
		ValidUntil       time.Time  `json:"valid_until"`
		SigningPEMURL    string     `json:"signing_pem_url"`
		EncryptionPEMURL string     `json:"encryption_pem_url"`
		Certificates     []CertInfo `json:"certificates"`
	}
	if err := json.Unmarshal(p.CertsJSON(), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.EntityID != in.SP.EntityID || !idx.ValidUntil.Equal(p.ValidUntil()) || idx.SigningPEMURL != "/saml/certs/signing.pem" || idx.EncryptionPEMURL != "/saml/certs/encryption.pem" {
		t.Errorf("index header = %+v", idx)
	}
	want := []*keys.Credential{in.Keys.Signing[0], in.Keys.Signing[1], in.Keys.Encryption[0]}
	if len(idx.Certificates) != len(want) {
		t.Fatalf("index lists %d certificates, want %d", len(idx.Certificates), len(want))
	}
	for i, ci := range idx.Certificates {
		c := want[i]
		if ci.Use != c.Use || ci.State != c.Role || ci.RecordID != c.RecordID || !ci.NotAfter.Equal(c.Leaf().NotAfter) || !ci.NotBefore.Equal(c.Leaf().NotBefore) {
			t.Errorf("certificate %d = %+v, want %s %s %s", i, ci, c.Use, c.Role, c.RecordID)
		}
		if ci.KeyAlgorithm != "RSA-2048" || ci.Subject != c.Leaf().Subject.String() {
			t.Errorf("certificate %d: key %s subject %s", i, ci.KeyAlgorithm, ci.Subject)
		}
		// The fingerprints are what openssl prints, and the per-certificate
		// URL serves exactly that certificate.
		if got := opensslFingerprint(t, c, "-sha256"); got != ci.SHA256 {
			t.Errorf("certificate %d SHA-256 %s, openssl says %s", i, ci.SHA256, got)
		}
		if got := opensslFingerprint(t, c, "-sha1"); got != ci.SHA1 {
			t.Errorf("certificate %d SHA-1 %s, openssl says %s", i, ci.SHA1, got)
		}
		resp := get(t, h, ci.DERURL, nil)
		if resp.Code != 200 || !bytes.Equal(resp.Body.Bytes(), c.Leaf().Raw) {
			t.Errorf("GET %s: %d, body is not the certificate", ci.DERURL, resp.Code)
		}
		resp = get(t, h, ci.PEMURL, nil)
		if got := pemBase64(t, resp.Body.Bytes()); resp.Code != 200 || len(got) != 1 || got[0] != b64(c) {
			t.Errorf("GET %s: %d, body is not the certificate", ci.PEMURL, resp.Code)
		}
	}
}

// TestPublishedImmutable checks that what the accessors hand out are
// copies: a caller scribbling on them cannot change what is served.
func TestPublishedImmutable(t *testing.T) {
	p := mustBuild(t, testInput(t))
	want := p.Metadata()
	for _, b := range [][]byte{p.Metadata(), p.CertsJSON(), p.PEM(keys.UseSigning), p.DER(keys.UseEncryption)} {
		clear(b)
	}
	p.Certificates()[0].SHA256 = "scribbled"
	rec := get(t, NewHandler(fixedSource{p}, nil), "/saml/metadata", nil)
	if !bytes.Equal(rec.Body.Bytes(), want) || !bytes.Equal(p.Metadata(), want) {
		t.Error("changing an accessor's result changed the served metadata")
	}
	if p.Certificates()[0].SHA256 == "scribbled" || bytes.Count(p.PEM(keys.UseSigning), []byte("BEGIN CERTIFICATE")) != 1 {
		t.Error("changing an accessor's result changed the rendering")
	}
	if p.EntityID() != testSP().EntityID || !p.BuiltAt().Equal(clock) || p.Signed() {
		t.Errorf("EntityID %q BuiltAt %s Signed %v", p.EntityID(), p.BuiltAt(), p.Signed())
	}
}

// TestContacts checks every ContactPerson is written, in order (crewjam's
// EntityDescriptor keeps only one, so this reads the XML with etree).
func TestContacts(t *testing.T) {
	in := testInput(t)
	in.SP.Contacts = append(in.SP.Contacts, config.Contact{Type: "support", Email: "mailto:help@example.com"})
	root := descriptorsRoot(t, mustBuild(t, in).Metadata())
	cps := root.SelectElements("ContactPerson")
	if len(cps) != 2 {
		t.Fatalf("%d ContactPerson elements, want 2", len(cps))
	}
	for i, want := range []struct{ typ, email string }{{"technical", "mailto:sso@example.com"}, {"support", "mailto:help@example.com"}} {
		if got := cps[i].SelectAttrValue("contactType", ""); got != want.typ {
			t.Errorf("contact %d type %q, want %q", i, got, want.typ)
		}
		if e := cps[i].SelectElement("EmailAddress"); e == nil || e.Text() != want.email {
			t.Errorf("contact %d e-mail is not %q", i, want.email)
		}
	}
	// Schema order: Organization, then ContactPerson, after the role descriptor.
	var order []string
	for _, el := range root.ChildElements() {
		order = append(order, el.Tag)
	}
	if strings.Join(order, ",") != "SPSSODescriptor,Organization,ContactPerson,ContactPerson" {
		t.Errorf("EntityDescriptor children %v out of schema order", order)
	}
}
