package sp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	xrv "github.com/mattermost/xml-roundtrip-validator"

	"github.com/samlkeyd/samlkeyd/config"
)

// Limits bound the structure of an XML document. CheckStructure enforces
// them in one streaming pass before the document is parsed into a tree,
// so that no later step (etree, goxmldsig's namespace contexts, exclusive
// c14n) sees a document whose cost is not bounded by them. A zero field
// takes the value of DefaultLimits.
type Limits struct {
	MaxDepth      int // element nesting
	MaxElements   int // elements in the document
	MaxAttributes int // attributes of one element, namespace declarations included
	// MaxAttributesTotal bounds the attributes of the whole document:
	// parsing costs about a microsecond and a few hundred bytes each.
	MaxAttributesTotal int
	// MaxNamespaces bounds the distinct prefixes in scope at any element:
	// goxmldsig copies that map at every element it visits.
	MaxNamespaces int
	// MaxNamespaceDeclarations bounds the xmlns attributes in the document.
	MaxNamespaceDeclarations int
	MaxNameLength            int // bytes of an element or attribute name, prefix included
	MaxValueLength           int // bytes of an attribute value
	MaxTextLength            int // bytes of one run of text (or CDATA section)
}

// DefaultLimits are the limits on responses and decrypted assertions: far
// above what IdPs send (a response with 1,000 attributes has ~2,100
// elements, ~3,100 attributes and ~10 prefixes in scope), far below what
// costs real time: any document within them and the 1 MiB cap is refused
// or verified in well under 100 ms of CPU (BenchmarkHostile).
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:                 64,
		MaxElements:              20_000,
		MaxAttributes:            64,
		MaxAttributesTotal:       40_000,
		MaxNamespaces:            32,
		MaxNamespaceDeclarations: 20_000,
		MaxNameLength:            256,
		MaxValueLength:           64 << 10,
		MaxTextLength:            MaxResponseXML,
	}
}

// DefaultMetadataLimits are the larger limits on IdP metadata documents
// (an EntitiesDescriptor of a federation holds many entities).
func DefaultMetadataLimits() Limits {
	return Limits{
		MaxDepth:                 64,
		MaxElements:              500_000,
		MaxAttributes:            64,
		MaxAttributesTotal:       1_000_000,
		MaxNamespaces:            32,
		MaxNamespaceDeclarations: 500_000,
		MaxNameLength:            256,
		MaxValueLength:           64 << 10,
		MaxTextLength:            MaxIdPMetadataXML,
	}
}

// MaxIdPMetadataXML is the size cap of an IdP metadata document.
const MaxIdPMetadataXML = 4 * MaxResponseXML

// WithDefaults fills the zero fields of l from d (a caller's partial
// limits over a budget such as DefaultLimits or an aggregate's).
func (l Limits) WithDefaults(d Limits) Limits {
	fill := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&l.MaxDepth, d.MaxDepth)
	fill(&l.MaxElements, d.MaxElements)
	fill(&l.MaxAttributes, d.MaxAttributes)
	fill(&l.MaxAttributesTotal, d.MaxAttributesTotal)
	fill(&l.MaxNamespaces, d.MaxNamespaces)
	fill(&l.MaxNamespaceDeclarations, d.MaxNamespaceDeclarations)
	fill(&l.MaxNameLength, d.MaxNameLength)
	fill(&l.MaxValueLength, d.MaxValueLength)
	fill(&l.MaxTextLength, d.MaxTextLength)
	return l
}

// ErrStructure is wrapped by every *StructureError.
var ErrStructure = errors.New("xml structure over a limit")

// StructureError is a document over one of its Limits. Limit names the
// setting (the config key under sp.limits, such as "max_depth").
type StructureError struct {
	Limit  string
	Max    int
	Offset int64 // byte offset in the document where the limit was passed
}

func (e *StructureError) Error() string {
	return fmt.Sprintf("xml structure: over %s = %d at byte %d", e.Limit, e.Max, e.Offset)
}

func (e *StructureError) Unwrap() error { return ErrStructure }

// CheckStructure reads data once, as a stream, and refuses it when it is
// not well-formed XML, holds a DTD or other directive, holds a token that
// does not survive a round trip through encoding/xml (the checks of
// mattermost/xml-roundtrip-validator, which it replaces), or passes one of
// l's limits (a *StructureError). Zero fields of l take DefaultLimits. Its
// cost is linear in len(data) and allocates O(depth + in-scope prefixes).
func CheckStructure(data []byte, l Limits) error {
	l = l.WithDefaults(DefaultLimits())
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	s := structure{l: l, d: d, inScope: map[string]int{}}
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("parse xml: %w", err)
		}
		if err := s.token(tok); err != nil {
			return err
		}
	}
	if len(s.frames) != 0 {
		return errors.New("parse xml: unexpected end of document")
	}
	if s.elements == 0 {
		return errors.New("xml has no root element")
	}
	return nil
}

// structure is the state of one CheckStructure pass.
type structure struct {
	l        Limits
	d        *xml.Decoder
	elements int
	attrs    int
	decls    int
	inScope  map[string]int // prefix → number of open elements declaring it
	frames   []int          // per open element: how many prefixes it pushed onto declared
	names    []xml.Name     // per open element: its raw name (RawToken does not match end tags)
	declared []string
	roots    int
}

func (s *structure) over(limit string, max int) error {
	return &StructureError{Limit: limit, Max: max, Offset: s.d.InputOffset()}
}

func (s *structure) token(tok xml.Token) error {
	switch t := tok.(type) {
	case xml.StartElement:
		if err := s.start(t); err != nil {
			return err
		}
	case xml.EndElement:
		if !qname(t.Name) {
			return fmt.Errorf("parse xml: end tag name %q is not a QName", t.Name.Space+":"+t.Name.Local)
		}
		if err := s.end(t.Name); err != nil {
			return err
		}
	case xml.CharData:
		if len(t) > s.l.MaxTextLength {
			return s.over("max_text_length", s.l.MaxTextLength)
		}
	case xml.Directive:
		return errors.New("xml holds a DOCTYPE or other directive: refused (entity expansion)")
	}
	if !roundTripSafe(tok) {
		if err := xrv.CheckToken(tok); err != nil {
			return fmt.Errorf("xml does not round-trip (mattermost/xml-roundtrip-validator) at byte %d: %w", s.d.InputOffset(), err)
		}
	}
	return nil
}

func (s *structure) start(t xml.StartElement) error {
	if len(s.frames) == 0 {
		if s.roots++; s.roots > 1 {
			return errors.New("parse xml: more than one root element")
		}
	}
	if len(s.frames) >= s.l.MaxDepth {
		return s.over("max_depth", s.l.MaxDepth)
	}
	if s.elements++; s.elements > s.l.MaxElements {
		return s.over("max_elements", s.l.MaxElements)
	}
	if len(t.Attr) > s.l.MaxAttributes {
		return s.over("max_attributes", s.l.MaxAttributes)
	}
	if s.attrs += len(t.Attr); s.attrs > s.l.MaxAttributesTotal {
		return s.over("max_attributes_total", s.l.MaxAttributesTotal)
	}
	if nameLen(t.Name) > s.l.MaxNameLength {
		return s.over("max_name_length", s.l.MaxNameLength)
	}
	if !qname(t.Name) {
		return fmt.Errorf("parse xml: element name %q is not a QName", t.Name.Space+":"+t.Name.Local)
	}
	pushed := 0
	for _, a := range t.Attr {
		if nameLen(a.Name) > s.l.MaxNameLength {
			return s.over("max_name_length", s.l.MaxNameLength)
		}
		if !qname(a.Name) {
			return fmt.Errorf("parse xml: attribute name %q is not a QName", a.Name.Space+":"+a.Name.Local)
		}
		if len(a.Value) > s.l.MaxValueLength {
			return s.over("max_value_length", s.l.MaxValueLength)
		}
		prefix, ok := nsDeclaration(a.Name)
		if !ok {
			continue
		}
		if s.decls++; s.decls > s.l.MaxNamespaceDeclarations {
			return s.over("max_namespace_declarations", s.l.MaxNamespaceDeclarations)
		}
		s.inScope[prefix]++
		s.declared = append(s.declared, prefix)
		pushed++
		if len(s.inScope) > s.l.MaxNamespaces {
			return s.over("max_namespaces", s.l.MaxNamespaces)
		}
	}
	s.frames = append(s.frames, pushed)
	s.names = append(s.names, t.Name)
	return nil
}

func (s *structure) end(name xml.Name) error {
	if len(s.frames) == 0 {
		return errors.New("parse xml: end tag without start tag")
	}
	if open := s.names[len(s.names)-1]; open != name {
		return fmt.Errorf("parse xml: end tag </%s> closes <%s>", rawName(name), rawName(open))
	}
	s.names = s.names[:len(s.names)-1]
	n := s.frames[len(s.frames)-1]
	s.frames = s.frames[:len(s.frames)-1]
	for _, p := range s.declared[len(s.declared)-n:] {
		if s.inScope[p]--; s.inScope[p] == 0 {
			delete(s.inScope, p)
		}
	}
	s.declared = s.declared[:len(s.declared)-n]
	return nil
}

// nsDeclaration reports whether an attribute (as RawToken returns it, the
// prefix in Space) declares a namespace, and the prefix it declares.
func nsDeclaration(n xml.Name) (string, bool) {
	switch {
	case n.Space == "xmlns":
		return n.Local, true
	case n.Space == "" && n.Local == "xmlns":
		return "", true
	}
	return "", false
}

// qname reports whether a raw name is prefix:local or local with neither
// part empty nor holding a colon. encoding/xml (Go 1.26) returns "x:" or
// ":" as a local name; the round-trip validator's corpus refuses them.
func qname(n xml.Name) bool {
	return n.Local != "" && !strings.Contains(n.Local, ":") && !strings.Contains(n.Space, ":")
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func nameLen(n xml.Name) int { return len(n.Space) + 1 + len(n.Local) }

// roundTripSafe reports, conservatively and cheaply, whether a token
// certainly survives mattermost/xml-roundtrip-validator's CheckToken:
// simple names (one optional prefix, no reserved prefix on elements) and
// text or attribute values of valid XML characters. Any other token is
// handed to CheckToken itself. TestRoundTripSafeAgreesWithCheckToken and
// FuzzCheckStructure hold the two to agreement.
func roundTripSafe(tok xml.Token) bool {
	switch t := tok.(type) {
	case xml.StartElement:
		if !simpleName(t.Name.Local) || t.Name.Space != "" && (!simpleName(t.Name.Space) || t.Name.Space == "xmlns" || t.Name.Space == "xml") {
			return false
		}
		for _, a := range t.Attr {
			if !simpleName(a.Name.Local) || a.Name.Space != "" && !simpleName(a.Name.Space) || !xmlChars(a.Value) {
				return false
			}
			if a.Name.Space == "xmlns" && (a.Name.Local == "xmlns" || a.Name.Local == "xml") {
				return false
			}
		}
		return true
	case xml.EndElement:
		return simpleName(t.Name.Local) && (t.Name.Space == "" || simpleName(t.Name.Space))
	case xml.CharData:
		return xmlChars(string(t))
	}
	return false
}

// simpleName: [A-Za-z_][A-Za-z0-9_.-]*, no colon.
func simpleName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// xmlChars: valid UTF-8 of XML 1.0 characters, no carriage return.
func xmlChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0xD800 && r <= 0xDFFF || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += n
	}
	return true
}

// LimitsFrom converts the sp.limits config section.
func LimitsFrom(c config.XMLLimits) Limits {
	return Limits{
		MaxDepth: c.MaxDepth, MaxElements: c.MaxElements, MaxAttributes: c.MaxAttributes, MaxAttributesTotal: c.MaxAttributesTotal,
		MaxNamespaces: c.MaxNamespaces, MaxNamespaceDeclarations: c.MaxNamespaceDeclarations,
		MaxNameLength: c.MaxNameLength, MaxValueLength: c.MaxValueLength, MaxTextLength: c.MaxTextLength,
	}
}
