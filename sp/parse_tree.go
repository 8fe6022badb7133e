package sp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"
)

// parseTree is parseXML in one pass: the structure pass of CheckStructure
// (the same limits, round-trip checks and DOCTYPE refusal, token by token,
// before the token is used) builds the etree document from the tokens it
// has read, as etree.ReadFrom would from its own second tokenization. It
// exists for the redirect binding, where the XML is parsed after the
// signature over all of its bytes verified and nothing canonicalizes it:
// tokenizing once is half of what parseXML costs there. Its cost is linear
// in len(data) and bounded by l; TestParseTreeAgrees and FuzzParseTree hold
// its trees to parseXML's.
func parseTree(data []byte, l Limits) (*etree.Document, error) {
	l = l.WithDefaults(DefaultLimits())
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	s := structure{l: l, d: d, inScope: map[string]int{}}
	doc := etree.NewDocument()
	open := []*etree.Element{&doc.Element}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse xml: %w", err)
		}
		if err := s.token(tok); err != nil {
			return nil, err
		}
		top := open[len(open)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			el := top.CreateElement(rawName(t.Name))
			for _, a := range t.Attr {
				el.CreateAttr(rawName(a.Name), a.Value) // a repeated attribute keeps its last value, as etree's reader does
			}
			open = append(open, el)
		case xml.EndElement:
			open = open[:len(open)-1] // s.end matched it with its start tag
		case xml.CharData:
			top.CreateText("").SetData(string(t)) // SetData flags whitespace, as etree's reader does
		case xml.Comment:
			top.CreateComment(string(t))
		case xml.ProcInst:
			top.CreateProcInst(t.Target, string(t.Inst))
		}
	}
	if len(s.frames) != 0 {
		return nil, errors.New("parse xml: unexpected end of document")
	}
	if doc.Root() == nil {
		return nil, errors.New("xml has no root element")
	}
	return doc, nil
}
