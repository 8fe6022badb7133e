package sp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseTreeSeeds are documents parseTree and parseXML must agree on.
func parseTreeSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden XML: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out,
		[]byte(`<?xml version="1.0"?><!-- c --><a xmlns="urn:x" b="1" b="2"> <c:d xmlns:c="urn:c">t&amp;<![CDATA[<x>]]></c:d><?pi x?></a>`),
		[]byte("<a>\n  <b/>\n</a>\n"),
		[]byte(`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`),
		[]byte(`<a><b></a></b>`),
		[]byte(`<a/><b/>`),
		[]byte(strings.Repeat("<a>", 65)+strings.Repeat("</a>", 65)),
		[]byte(`<a x:y="1"/>`),
		[]byte(`<a>`+"\x01"+`</a>`),
		[]byte(``),
	)
}

// agree reports how parseTree and parseXML differ on doc, or "".
func agree(doc []byte) string {
	want, werr := parseXML(doc, Limits{})
	got, gerr := parseTree(doc, Limits{})
	if (werr == nil) != (gerr == nil) {
		return "parseXML error " + errString(werr) + ", parseTree error " + errString(gerr)
	}
	if werr != nil {
		return ""
	}
	wb, err1 := want.WriteToBytes()
	gb, err2 := got.WriteToBytes()
	if err1 != nil || err2 != nil || !bytes.Equal(wb, gb) {
		return "trees differ:\n" + string(wb) + "\n" + string(gb)
	}
	return ""
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestParseTreeAgrees(t *testing.T) {
	for i, doc := range parseTreeSeeds(t) {
		if d := agree(doc); d != "" {
			t.Errorf("seed %d %.60q: %s", i, doc, d)
		}
	}
}

// FuzzParseTree holds parseTree to parseXML: the same documents refused,
// the same trees built.
func FuzzParseTree(f *testing.F) {
	for _, doc := range parseTreeSeeds(f) {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if d := agree(doc); d != "" {
			t.Fatal(d)
		}
	})
}
