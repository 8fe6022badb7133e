package metadata

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

// FuzzBuild feeds hostile strings into the SP settings: Build must either
// refuse them or produce XML that parses back (with crewjam/saml and
// etree) to exactly the strings it was given — never a panic, never
// markup injected through a value.
func FuzzBuild(f *testing.F) {
	// Seed from the golden input and from the golden file's own text.
	sp := testSP()
	f.Add(sp.EntityID, sp.ACS[0].Location, sp.Organization.Name, sp.NameIDFormats[0])
	golden, err := os.ReadFile(filepath.Join("testdata", "golden-unsigned.xml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sp.EntityID, sp.ACS[0].Location, string(golden), sp.NameIDFormats[0])
	f.Add(`https://a/"><x/>`, `https://h/?a=1&b=<2>`, `]]><!-- & "'`, `urn:x:<y>`)
	f.Add("https://a/\x00", "https://h/\t", "\xff\xfe", "urn:\u2028")
	f.Fuzz(func(t *testing.T, entityID, location, orgName, nameID string) {
		in := testInput(t)
		in.SP.EntityID = entityID
		in.SP.ACS[0].Location = location
		in.SP.Organization.Name = orgName
		in.SP.NameIDFormats = []string{nameID}
		p, err := Build(in)
		if err != nil {
			return
		}
		md := p.Metadata()
		var ed saml.EntityDescriptor
		if err := xml.Unmarshal(md, &ed); err != nil {
			t.Fatalf("Build made metadata crewjam cannot parse: %v\n%s", err, md)
		}
		sd := ed.SPSSODescriptors[0]
		if ed.EntityID != entityID || sd.AssertionConsumerServices[0].Location != location ||
			ed.Organization.OrganizationNames[0].Value != orgName || string(sd.NameIDFormats[0]) != nameID {
			t.Fatalf("values did not round-trip: %q %q %q %q", ed.EntityID, sd.AssertionConsumerServices[0].Location, ed.Organization.OrganizationNames[0].Value, sd.NameIDFormats[0])
		}
		doc := etree.NewDocument()
		if err := doc.ReadFromBytes(md); err != nil {
			t.Fatalf("etree cannot parse: %v", err)
		}
		if n := len(doc.FindElements("//KeyDescriptor")); n != 2 {
			t.Fatalf("%d KeyDescriptors after injection attempt, want 2", n)
		}
	})
}

// FuzzETagMatch checks the If-None-Match parser never panics on any
// header, and that a list starting with the tag always matches. (What
// follows a malformed element is ambiguous: RFC 9110 entity tags may
// contain commas, so no stronger property holds for arbitrary bytes; the
// first fuzz finding, kept in testdata/fuzz, showed exactly that.)
func FuzzETagMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc"`, `*`, `"x", "abc"`, `"abc`, `junk, "abc"`, `W/`, `,,,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		ETagMatch([]string{header}, `"abc"`)
		if !ETagMatch([]string{`"abc", ` + header}, `"abc"`) || !ETagMatch([]string{header, `W/"abc"`}, `"abc"`) {
			t.Fatalf("a list holding the tag does not match: %q", header)
		}
	})
}

// FuzzLint feeds arbitrary documents to Lint: it must return findings or
// an error, never panic, for any bytes.
func FuzzLint(f *testing.F) {
	for _, name := range []string{"golden-unsigned.xml", "golden-signed-rsa-sha256.xml", "golden-federation.xml"} {
		doc, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="x"><md:SPSSODescriptor/></md:EntityDescriptor>`))
	f.Add([]byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:SPSSODescriptor><md:KeyDescriptor><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>!!</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:SPSSODescriptor></md:EntityDescriptor>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		findings, err := Lint(doc, LintOptions{Now: clock})
		if err == nil {
			for _, fd := range findings {
				if fd.Rule == "" || fd.Message == "" {
					t.Fatalf("empty finding %+v", fd)
				}
			}
		}
	})
}
