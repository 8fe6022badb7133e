package metadata

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
)

// xmllintSchema validates doc with xmllint against the OASIS metadata
// schema and every extension schema samlkeyd writes (testdata/schemas, no
// network). It returns xmllint's output and whether the document is valid.
func xmllintSchema(t *testing.T, doc []byte) (string, bool) {
	t.Helper()
	xmllint := tooltest.Path(t, "xmllint")
	schemas, err := filepath.Abs(filepath.Join("testdata", "schemas"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "metadata.xml")
	write(t, file, doc)
	cmd := exec.Command(xmllint, "--nonet", "--noout", "--schema", filepath.Join(schemas, "samlkeyd-sp-metadata.xsd"), file)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+filepath.Join(schemas, "catalog.xml"))
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run xmllint: %v", err)
	}
	return string(out), err == nil && strings.Contains(string(out), "validates")
}

// TestSchemaValid validates every kind of metadata Build makes against the
// OASIS schemas with xmllint: plain, signed, EC, and with every federation
// element (mdui, mdattr, alg, idpdisc, AttributeConsumingService, the
// REFEDS security contact).
func TestSchemaValid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Input)
	}{
		{"minimal", func(in *Input) { in.SP.Organization, in.SP.Contacts, in.SP.SLO = nil, nil, nil }},
		{"unsigned", func(*Input) {}},
		{"signed", func(in *Input) { in.SP.Metadata.Signed = true }},
		{"ec signed", func(in *Input) {
			in.SP.Metadata.Signed = true
			in.Keys.Signing = []*keys.Credential{loadCred(t, "ec-signing", keys.UseSigning, keys.RoleCurrent)}
		}},
		{"federation", func(in *Input) { in.SP = federationSP() }},
		{"federation signed", func(in *Input) { in.SP = federationSP(); in.SP.Metadata.Signed = true }},
		{"entity categories only", func(in *Input) {
			in.SP.EntityCategories = []string{"http://refeds.org/category/research-and-scholarship"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(t)
			tc.modify(&in)
			if out, ok := xmllintSchema(t, mustBuild(t, in).Metadata()); !ok {
				t.Errorf("xmllint: metadata is not schema-valid:\n%s", out)
			}
		})
	}
}

// TestSchemaCatchesMistakes proves the schema check can fail: each change
// breaks one rule of the schemas the metadata uses.
func TestSchemaCatchesMistakes(t *testing.T) {
	in := testInput(t)
	in.SP = federationSP()
	md := mustBuild(t, in).Metadata()
	for _, tc := range []struct{ name, old, new string }{
		{"logo without width", `<mdui:Logo height="60" width="80"`, `<mdui:Logo height="60"`},
		{"signing method without algorithm", `<alg:SigningMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"`, `<alg:SigningMethod`},
		{"discovery response without index", ` index="0"/>` + "\n      <idpdisc:DiscoveryResponse", `/>` + "\n      <idpdisc:DiscoveryResponse"},
		{"requested attribute in the wrong place", `<md:NameIDFormat>`, `<md:RequestedAttribute Name="x"/><md:NameIDFormat>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(md, []byte(tc.old)) {
				t.Fatalf("metadata has no %q to change", tc.old)
			}
			bad := bytes.Replace(md, []byte(tc.old), []byte(tc.new), 1)
			if out, ok := xmllintSchema(t, bad); ok {
				t.Errorf("xmllint accepted the broken metadata:\n%s", out)
			}
		})
	}
}
