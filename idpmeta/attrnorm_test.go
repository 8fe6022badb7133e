package idpmeta

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

func TestAttrNormalizer(t *testing.T) {
	in := "<?xml version=\"1.0\"?>\n<a b=\"x\ny\tz\r\nw\rv\" c='&#xA;\n\"'><!-- \"q\n -- --><![CDATA[ a=\"\n\" ]]]><?p a=\"\n\"??><d e=\"1\r\n\r\n2\">t\r\nu\"\n</d></a>\n"
	want := "<?xml version=\"1.0\"?>\n<a b=\"x y z w v\" c='&#xA; \"'><!-- \"q\n -- --><![CDATA[ a=\"\n\" ]]]><?p a=\"\n\"??><d e=\"1  2\">t\r\nu\"\n</d></a>\n"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
		"half":     iotest.HalfReader(strings.NewReader(in)),
	} {
		got, err := io.ReadAll(&attrNormalizer{r: r})
		if err != nil || string(got) != want {
			t.Errorf("%s: %v\n%q\nwant\n%q", name, err, got, want)
		}
	}
}

// TestVerifyAggregateLiteralLineBreak: an attribute written across lines
// is signed (by xmlsec1) as its normalized value; the signed document,
// with the line breaks written back literally as a publisher's serializer
// may, verifies with xmlsec1 and with ours.
func TestVerifyAggregateLiteralLineBreak(t *testing.T) {
	k := testKeys(t)
	var b bytes.Buffer
	if err := writeAggregate(&b, genOptions{Entities: 1}, k); err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(b.String(), `Name="urn:example:fed"`, "Name=\"urn:example:fed\n\tsecond line\r\nthird\"", 1)
	dir := t.TempDir()
	tmpl, out := filepath.Join(dir, "t.xml"), filepath.Join(dir, "s.xml")
	os.WriteFile(tmpl, []byte(doc), 0o600)
	xmlsecSign(t, tmpl, out, k[0], "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor")
	signed, _ := os.ReadFile(out)
	normalized := `Name="urn:example:fed  second line third"`
	if !bytes.Contains(signed, []byte(normalized)) {
		t.Fatalf("xmlsec1 did not write %s", normalized)
	}
	os.WriteFile(out, bytes.Replace(signed, []byte(normalized), []byte("Name=\"urn:example:fed\n\tsecond line\r\nthird\""), 1), 0o600)
	if err := xmlsecVerify(t, out, k[0], "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor"); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyAggregateFile(out, VerifyOptions{Signer: k[0].cert, Now: testNow}); err != nil {
		t.Fatal(err)
	}
}
