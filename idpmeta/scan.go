package idpmeta

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/samlkeyd/samlkeyd/sp"
)

const (
	nsMD   = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig = "http://www.w3.org/2000/09/xmldsig#"
)

// AggregateLimits are the structural limits on a federation aggregate:
// DefaultMetadataLimits with the counts sized for ~200 MB of metadata
// (a 10,000-entity aggregate of ~100 MB holds ~2.5 million elements) and
// the same bounds on depth, names and in-scope prefixes.
func AggregateLimits() sp.Limits {
	l := sp.DefaultMetadataLimits()
	l.MaxElements = 8_000_000
	l.MaxAttributesTotal = 16_000_000
	l.MaxNamespaceDeclarations = 4_000_000
	l.MaxTextLength = 1 << 20 // one run of text (a certificate, a logo data URL)
	return l
}

// event is one token of the pass, with its element's resolved name, handed
// to the pass's consumer (the indexer).
type consumer interface {
	start(depth int, space, local string, t *xml.StartElement)
	end(depth int)
	text(b []byte)
}

// scan is one streaming pass over a signed metadata document: structural
// limits, exclusive c14n of the root without its enveloped Signature into
// a digest, capture of that Signature, and the consumer's events.
type scan struct {
	d      *xml.Decoder
	lim    sp.Limits
	ns     nsContext
	names  []xml.Name
	counts struct{ elements, attrs, decls int }

	digest   *c14nWriter // nil until the Signature is known
	deferred []xml.Token // the root start tag and text before the Signature
	pick     func(*signature) (*c14nWriter, error)

	sig      *signatureCapture
	sigDone  bool
	children int // element children of the root seen so far

	ignoreSig bool // canonicalize only: the Signature is dropped, not read

	root      xml.StartElement
	rootSpace string
	c         consumer
}

// errNoSignature: the document is not signed the way an aggregate must be.
var errNoSignature = errors.New("the root has no enveloped ds:Signature as its first child")

// run reads r to its end. pick is called once the Signature is read (or,
// with nil, when the root has none) and returns the writer the canonical
// form goes to.
func (s *scan) run() error {
	for {
		tok, err := s.d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("parse xml at byte %d: %w", s.d.InputOffset(), err)
		}
		if err := s.token(tok); err != nil {
			return err
		}
	}
	if len(s.names) != 0 || s.counts.elements == 0 {
		return errors.New("parse xml: unexpected end of document")
	}
	if s.digest == nil {
		return s.configure(nil)
	}
	return s.digest.flush()
}

func (s *scan) over(limit string, max int) error {
	return &sp.StructureError{Limit: limit, Max: max, Offset: s.d.InputOffset()}
}

func (s *scan) token(tok xml.Token) error {
	depth := len(s.names)
	switch t := tok.(type) {
	case xml.StartElement:
		return s.start(&t, depth)
	case xml.EndElement:
		return s.end(t, depth)
	case xml.CharData:
		if len(t) > s.lim.MaxTextLength {
			return s.over("max_text_length", s.lim.MaxTextLength)
		}
		switch {
		case depth == 0:
			if strings.TrimLeft(string(t), " \t\r\n") != "" {
				return errors.New("parse xml: text outside the root element")
			}
			return nil
		case s.sig != nil:
			s.sig.add(t.Copy())
		case s.digest == nil:
			s.deferred = append(s.deferred, t.Copy())
		default:
			if err := s.digest.text(t); err != nil {
				return err
			}
		}
		s.c.text(t)
	case xml.ProcInst:
		if depth == 0 {
			if t.Target == "xml" && s.counts.elements == 0 {
				return nil
			}
			return fmt.Errorf("parse xml: processing instruction <?%s?> outside the root element: refused", t.Target)
		}
		switch {
		case s.sig != nil:
			s.sig.add(t.Copy())
		case s.digest == nil:
			s.deferred = append(s.deferred, t.Copy())
		default:
			return s.digest.procInst(t)
		}
	case xml.Directive:
		return errors.New("xml holds a DOCTYPE or other directive: refused (entity expansion)")
	}
	return nil
}

func (s *scan) start(t *xml.StartElement, depth int) error {
	if err := s.limits(t, depth); err != nil {
		return err
	}
	before := s.ns.inScopeIf(depth == 1 && s.children == 0)
	if err := s.ns.push(t.Attr); err != nil {
		return fmt.Errorf("parse xml at byte %d: %w", s.d.InputOffset(), err)
	}
	s.names = append(s.names, t.Name)
	space, ok := s.ns.lookup(t.Name.Space)
	if !ok {
		return fmt.Errorf("parse xml at byte %d: namespace prefix %q is not declared", s.d.InputOffset(), t.Name.Space)
	}
	switch {
	case depth == 0:
		s.root = t.Copy()
		s.rootSpace = space
		s.deferred = append(s.deferred, s.root)
	case s.sig != nil:
		s.sig.add(t.Copy())
	case depth == 1 && s.children == 0 && !s.sigDone && space == nsDSig && t.Name.Local == "Signature":
		s.sig = &signatureCapture{outer: before}
		s.sig.add(t.Copy())
	default:
		if depth == 1 {
			s.children++
		}
		if s.digest == nil {
			if err := s.configure(nil); err != nil {
				return err
			}
		}
		if err := s.digest.start(t, &s.ns); err != nil {
			return fmt.Errorf("c14n at byte %d: %w", s.d.InputOffset(), err)
		}
	}
	s.c.start(depth, space, t.Name.Local, t)
	return nil
}

func (s *scan) end(t xml.EndElement, depth int) error {
	if depth == 0 {
		return errors.New("parse xml: end tag without start tag")
	}
	if open := s.names[depth-1]; open != t.Name {
		return fmt.Errorf("parse xml at byte %d: end tag </%s> closes <%s>", s.d.InputOffset(), rawName(t.Name), rawName(open))
	}
	s.names = s.names[:depth-1]
	switch {
	case s.sig != nil:
		s.sig.add(t)
		if depth == 2 {
			sig, err := s.sig.parse()
			s.sig, s.sigDone, s.children = nil, true, 1
			if s.ignoreSig {
				sig, err = nil, nil
			}
			if err != nil {
				return err
			}
			s.ns.pop()
			if err := s.configure(sig); err != nil {
				return err
			}
			s.c.end(depth - 1)
			return nil
		}
	case s.digest == nil:
		if err := s.configure(nil); err != nil {
			return err
		}
		fallthrough
	default:
		if err := s.digest.end(t.Name); err != nil {
			return err
		}
	}
	s.ns.pop()
	s.c.end(depth - 1)
	return nil
}

// configure picks the digest writer once the Signature (or its absence) is
// known and replays the deferred root start tag and text through it.
func (s *scan) configure(sig *signature) error {
	if s.digest != nil {
		return nil
	}
	w, err := s.pick(sig)
	if err != nil {
		return err
	}
	s.digest = w
	// the deferred tokens are the root start tag and text directly in the
	// root; the root's declarations are the only ones in scope, and ns
	// still holds them (depth is back to 1, or 0 at the very end).
	var rootNS nsContext
	if err := rootNS.push(s.root.Attr); err != nil {
		return err
	}
	for _, tok := range s.deferred {
		switch t := tok.(type) {
		case xml.StartElement:
			if err := s.digest.start(&t, &rootNS); err != nil {
				return fmt.Errorf("c14n: %w", err)
			}
		case xml.CharData:
			if err := s.digest.text(t); err != nil {
				return err
			}
		case xml.ProcInst:
			if err := s.digest.procInst(t); err != nil {
				return err
			}
		}
	}
	s.deferred = nil
	return nil
}

// limits applies s.lim to a start tag at depth.
func (s *scan) limits(t *xml.StartElement, depth int) error {
	l := s.lim
	if depth == 0 && s.counts.elements > 0 {
		return errors.New("parse xml: more than one root element")
	}
	if depth >= l.MaxDepth {
		return s.over("max_depth", l.MaxDepth)
	}
	if s.counts.elements++; s.counts.elements > l.MaxElements {
		return s.over("max_elements", l.MaxElements)
	}
	if len(t.Attr) > l.MaxAttributes {
		return s.over("max_attributes", l.MaxAttributes)
	}
	if s.counts.attrs += len(t.Attr); s.counts.attrs > l.MaxAttributesTotal {
		return s.over("max_attributes_total", l.MaxAttributesTotal)
	}
	if nameLen(t.Name) > l.MaxNameLength {
		return s.over("max_name_length", l.MaxNameLength)
	}
	if !qname(t.Name) {
		return fmt.Errorf("parse xml: element name %q is not a QName", rawName(t.Name))
	}
	for i, a := range t.Attr {
		for _, b := range t.Attr[:i] {
			if a.Name == b.Name {
				return fmt.Errorf("parse xml at byte %d: attribute %s repeated", s.d.InputOffset(), rawName(a.Name))
			}
		}
		if nameLen(a.Name) > l.MaxNameLength {
			return s.over("max_name_length", l.MaxNameLength)
		}
		if !qname(a.Name) {
			return fmt.Errorf("parse xml: attribute name %q is not a QName", rawName(a.Name))
		}
		if len(a.Value) > l.MaxValueLength {
			return s.over("max_value_length", l.MaxValueLength)
		}
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			if s.counts.decls++; s.counts.decls > l.MaxNamespaceDeclarations {
				return s.over("max_namespace_declarations", l.MaxNamespaceDeclarations)
			}
		}
	}
	if len(s.ns.decls)+len(t.Attr) > l.MaxNamespaces && s.ns.distinct(t.Attr) > l.MaxNamespaces {
		return s.over("max_namespaces", l.MaxNamespaces)
	}
	return nil
}

// inScopeIf returns the declarations in scope when cond holds (the outer
// context of a Signature), else nil.
func (c *nsContext) inScopeIf(cond bool) []nsDecl {
	if !cond {
		return nil
	}
	return c.inScope()
}

// distinct counts the distinct prefixes in scope once attrs are declared.
func (c *nsContext) distinct(attrs []xml.Attr) int {
	seen := map[string]bool{}
	for _, d := range c.decls {
		seen[d.prefix] = true
	}
	for _, a := range attrs {
		if a.Name.Space == "xmlns" {
			seen[a.Name.Local] = true
		} else if a.Name.Space == "" && a.Name.Local == "xmlns" {
			seen[""] = true
		}
	}
	return len(seen)
}

// qname reports whether a raw name is prefix:local or local with neither
// part empty nor holding a colon.
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
