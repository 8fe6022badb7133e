package sp

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// nsBomb is issue 13's namespace bomb: decls xmlns: declarations spread
// over depth nested elements, with a ds:Signature child so that the
// validator hands it to goxmldsig.
func nsBomb(depth, decls int) []byte {
	var b strings.Builder
	b.WriteString(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Version="2.0" ID="r">`)
	per := decls / depth
	n := 0
	for i := range depth {
		b.WriteString("<e")
		for range per {
			fmt.Fprintf(&b, ` xmlns:p%d="urn:x"`, n)
			n++
		}
		b.WriteString(">")
		_ = i
	}
	for range depth {
		b.WriteString("</e>")
	}
	b.WriteString(`<ds:Signature><ds:SignedInfo/></ds:Signature></samlp:Response>`)
	return []byte(b.String())
}

// deepDoc nests depth elements.
func deepDoc(depth int) []byte {
	return []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0">` +
		strings.Repeat("<e>", depth) + strings.Repeat("</e>", depth) + `</samlp:Response>`)
}

// wideDoc holds n empty sibling elements.
func wideDoc(n int) []byte {
	return []byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0">` +
		strings.Repeat("<e/>", n) + `</samlp:Response>`)
}

func attrsDoc(n int) []byte {
	var b strings.Builder
	b.WriteString("<r")
	for i := range n {
		fmt.Fprintf(&b, ` a%d="v"`, i)
	}
	b.WriteString("/>")
	return []byte(b.String())
}

func TestCheckStructureLimits(t *testing.T) {
	long := strings.Repeat("n", 300)
	for _, tt := range []struct {
		name  string
		doc   []byte
		limit string // "" = accepted
	}{
		{"plain", []byte(`<r xmlns="urn:a"><x:y xmlns:x="urn:b" x:a="1">t</x:y></r>`), ""},
		{"depth at the limit", deepDoc(63), ""},
		{"too deep", deepDoc(64), "max_depth"},
		{"elements at the limit", wideDoc(19_999), ""},
		{"too many elements", wideDoc(20_000), "max_elements"},
		{"attributes at the limit", attrsDoc(64), ""},
		{"too many attributes", attrsDoc(65), "max_attributes"},
		{"too many attributes in all", []byte("<r>" + strings.Repeat(`<e a="1" b="2" c="3"/>`, 19_000) + "</r>"), "max_attributes_total"},
		{"namespace bomb", nsBomb(990, 15_000), "max_namespaces"},
		{"namespace declarations in total", []byte("<r>" + strings.Repeat(`<e xmlns:a="urn:a"/>`, 20_001) + "</r>"), "max_elements"},
		{"redeclared prefixes count once in scope", []byte("<r>" + strings.Repeat(`<e xmlns:a="urn:a">`, 40) + strings.Repeat(`</e>`, 40) + "</r>"), ""},
		{"long element name", []byte("<" + long + "/>"), "max_name_length"},
		{"long attribute name", []byte("<r " + long + `="v"/>`), "max_name_length"},
		{"long attribute value", []byte(`<r a="` + strings.Repeat("v", 64<<10+1) + `"/>`), "max_value_length"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStructure(tt.doc, Limits{})
			var se *StructureError
			switch {
			case tt.limit == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.limit == "":
			case !errors.As(err, &se) || !errors.Is(err, ErrStructure):
				t.Fatalf("error %v, want a *StructureError for %s", err, tt.limit)
			case se.Limit != tt.limit:
				t.Fatalf("limit %s (%v), want %s", se.Limit, err, tt.limit)
			}
		})
	}
	t.Run("total declarations", func(t *testing.T) {
		doc := []byte("<r>" + strings.Repeat(`<e xmlns:a="urn:a"/>`, 11) + "</r>")
		var se *StructureError
		if err := CheckStructure(doc, Limits{MaxNamespaceDeclarations: 10}); !errors.As(err, &se) || se.Limit != "max_namespace_declarations" {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("text", func(t *testing.T) {
		var se *StructureError
		if err := CheckStructure([]byte("<r>"+strings.Repeat("t", 11)+"</r>"), Limits{MaxTextLength: 10}); !errors.As(err, &se) || se.Limit != "max_text_length" {
			t.Fatalf("error %v", err)
		}
	})
}

// TestCheckStructureRefuses: what the round-trip validator and parseXML
// refused before stays refused.
func TestCheckStructureRefuses(t *testing.T) {
	for _, doc := range []string{
		"",
		"text only",
		`<a/><b/>`,
		`<a>`,
		`</a>`,
		`<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`,
		`<r><!ENTITY a "b"></r>`,
		`<r>&unknown;</r>`,
		`<a></b>`,
		`<x:a xmlns:x="urn:x"></y:a>`,
	} {
		if err := CheckStructure([]byte(doc), Limits{}); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
}

// xrvRefused are the inputs that mattermost/xml-roundtrip-validator's own
// tests (v0.1.0, validator_test.go and reader_test.go) expect it to
// refuse. CheckStructure replaces it and must refuse every one, including
// those (empty prefix or local names, two directives) that the validator
// itself accepts since encoding/xml changed under it.
var xrvRefused = []string{
	`<x::Root/>`,
	`<Root><x::Element></::Element></Root>`,
	`<Root><Element ::attr="foo"></Element></Root>`,
	`<Root></x::Element></Root>`,
	`<x:>`,
	`</x:>`,
	`<Root :="value"/>`,
	`<Root x:="value"/>`,
	`<Root xmlns="x" xmlns:="y"></Root>`,
	"<Root>\n\t\t\t<! <<!-- -->!-->\"--> \" >\n\t\t\t<! \">\" <X/>>\n\t\t</Root>",
	`<Root><! <<!-- -->!-- x --> y></Root>`,
	`<Root><!--`,
	`<Root>]]></Root>`,
	`<Root ::attr="x">]]><x::Element/></Root>`,
	"<Root>\r\n    <! <<!-- -->!-- x --> y>\r\n    <Element ::attr=\"foo\"></x::Element>\r\n</Root>",
}

func TestCheckStructureRoundTripCorpus(t *testing.T) {
	for _, doc := range xrvRefused {
		if err := CheckStructure([]byte(doc), Limits{}); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
	// Names the round-trip validator refuses inside otherwise fine
	// SAML-shaped documents, so that the token checks (not the parser)
	// refuse them.
	for _, doc := range []string{
		`<r><a ::b="1"/></r>`,
		`<r><a x:="1"/></r>`,
		`<r xmlns:="urn:a"/>`,
		`<r><a:b:c/></r>`,
		`<r><a :b="1"/></r>`,
	} {
		if err := CheckStructure([]byte(doc), Limits{}); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
}

// structureSeeds are the testdata documents, the bombs and the
// round-trip corpus.
func structureSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{nsBomb(40, 400), nsBomb(50, 100), deepDoc(100), wideDoc(100), attrsDoc(100),
		[]byte(`<r xmlns="urn:a"><x:y xmlns:x="urn:b" x:a="1">t&amp;<![CDATA[c]]></x:y><!-- c --><?pi x?></r>`),
		[]byte("<r a=\"\u00e9\t\n\">\u00e9\U0001F600</r>"), []byte("<r a='&#xD;'>&#x0;</r>"), []byte(`<xml:r xmlns:xmlns="urn:a" xml:lang="en"/>`)}
	for _, d := range xrvRefused {
		seeds = append(seeds, []byte(d))
	}
	for _, dir := range []string{"testdata/response/crewjam", "testdata/golden", "testdata/requests"} {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".xml") || strings.HasSuffix(path, ".golden")) {
				if b, err := os.ReadFile(path); err == nil {
					seeds = append(seeds, b)
				}
			}
			return nil
		})
	}
	return seeds
}

// TestRoundTripSafeAgreesWithCheckToken: every token roundTripSafe lets
// through without mattermost/xml-roundtrip-validator's CheckToken passes
// CheckToken.
func TestRoundTripSafeAgreesWithCheckToken(t *testing.T) {
	fast := 0
	for _, doc := range append(structureSeeds(t), crewjamResponse(t, crewjamOpts{attrs: 20})) {
		fast += checkFastPath(t, doc)
	}
	if fast == 0 {
		t.Fatal("no token took the fast path")
	}
}

func checkFastPath(t testing.TB, doc []byte) int {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	fast := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			return fast
		}
		if roundTripSafe(tok) {
			fast++
			if err := xrv.CheckToken(xml.CopyToken(tok)); err != nil {
				t.Fatalf("roundTripSafe(%#v) but CheckToken: %v", tok, err)
			}
		}
	}
}

// FuzzCheckStructure: no panic, cost bounded by the input, whatever the
// round-trip validator refuses is refused, and the fast path agrees with
// CheckToken.
func FuzzCheckStructure(f *testing.F) {
	for _, s := range structureSeeds(f) {
		f.Add(s)
	}
	loose := Limits{MaxDepth: 1 << 20, MaxElements: 1 << 30, MaxAttributes: 1 << 20, MaxNamespaces: 1 << 20,
		MaxNamespaceDeclarations: 1 << 30, MaxNameLength: 1 << 30, MaxValueLength: 1 << 30, MaxTextLength: 1 << 30}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := CheckStructure(doc, loose)
		if err == nil && xrv.Validate(bytes.NewReader(doc)) != nil {
			t.Fatalf("%q: accepted, the round-trip validator refuses it", doc)
		}
		checkFastPath(t, doc)
		_ = CheckStructure(doc, Limits{})
	})
}

// measure runs fn once and returns the bytes it allocated and the CPU
// (wall, on an otherwise idle goroutine) it took.
func measure(fn func()) (alloc uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestResponseNamespaceBomb is issue 13's attack: a 250 KB Response of
// ~15,000 xmlns declarations over 990 nested elements with a Signature
// child cost seconds and GBs in goxmldsig. It must be refused by the
// structural pass, allocating little.
func TestResponseNamespaceBomb(t *testing.T) {
	v := respValidator(t, respSettings(t))
	body := b64(nsBomb(990, 15_000))
	var err error
	alloc := measure(func() { _, err = v.Verify(context.Background(), "corp", body, "") })
	wantCheck(t, err, CheckMalformed)
	if !errors.Is(err, ErrStructure) {
		t.Fatalf("error %v, want a structure limit", err)
	}
	if alloc > 16<<20 {
		t.Fatalf("refusing the bomb allocated %d MiB", alloc>>20)
	}
}

// TestResponseThousandAttributes: a correctly signed assertion with 1,000
// attributes passes, plain and encrypted (goxmldsig's traversal limit
// refused the plain one).
func TestResponseThousandAttributes(t *testing.T) {
	_, encCert := respKey(t, "enc-current")
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprintf("encrypted=%v", enc), func(t *testing.T) {
			s := respSettings(t)
			o := crewjamOpts{attrs: 1000}
			if enc {
				o.encryptTo = encCert
			} else {
				s.IdPs[0].EncryptAssertion = false
			}
			a, err := respValidator(t, s).Verify(context.Background(), "corp", b64(crewjamResponse(t, o)), respRequestID)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Attributes) < 1000 || a.Attributes["attr999"][0] != "value 999" {
				t.Fatalf("%d attributes", len(a.Attributes))
			}
		})
	}
}
