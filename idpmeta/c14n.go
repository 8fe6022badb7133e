package idpmeta

import (
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file is a streaming Exclusive XML Canonicalization 1.0 writer
// (https://www.w3.org/TR/xml-exc-c14n/, without comments), fed one token at
// a time, so that the digest of a 100 MB aggregate is computed without a
// tree. The rules it follows:
//
//   - an element is written <qname ns-decls attrs>…</qname>, never as an
//     empty-element tag;
//   - a namespace declaration is written on an element only when its prefix
//     is visibly utilized there (the element's own prefix, or an attribute's)
//     or listed in the InclusiveNamespaces PrefixList, and the nearest output
//     ancestor did not already write the same prefix with the same URI; the
//     default namespace is undeclared (xmlns="") only when an output ancestor
//     wrote a non-empty one; the xml prefix is never declared;
//   - declarations sort by prefix (the default first), attributes by
//     namespace URI then local name (unqualified ones first);
//   - text escapes & < > and CR; attribute values escape & < " TAB LF CR;
//   - comments are dropped; processing instructions inside the apex are
//     written <?target data?>.

const nsXML = "http://www.w3.org/XML/1998/namespace"

// nsDecl is one namespace declaration: prefix ("" = default) and URI.
type nsDecl struct{ prefix, uri string }

// nsContext is the stack of namespace declarations in scope while a
// document streams by.
type nsContext struct {
	decls []nsDecl
	marks []int // per open element: len(decls) before its declarations
}

// push opens an element, declaring what its (raw) attributes declare.
func (c *nsContext) push(attrs []xml.Attr) error {
	c.marks = append(c.marks, len(c.decls))
	for _, a := range attrs {
		switch {
		case a.Name.Space == "xmlns":
			if a.Value == "" {
				return fmt.Errorf("namespace prefix %q undeclared with an empty URI (not allowed in XML 1.0)", a.Name.Local)
			}
			if a.Name.Local == "xmlns" || a.Name.Local == "xml" && a.Value != nsXML || a.Value == nsXML && a.Name.Local != "xml" {
				return fmt.Errorf("reserved namespace prefix %q or URI %q misused", a.Name.Local, a.Value)
			}
			c.decls = append(c.decls, nsDecl{a.Name.Local, a.Value})
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			c.decls = append(c.decls, nsDecl{"", a.Value})
		}
	}
	return nil
}

// pop closes the innermost element.
func (c *nsContext) pop() {
	n := len(c.marks) - 1
	c.decls = c.decls[:c.marks[n]]
	c.marks = c.marks[:n]
}

// lookup returns the URI bound to prefix ("" for the default namespace
// when none is declared) and whether it is bound.
func (c *nsContext) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return nsXML, true
	}
	for i := len(c.decls) - 1; i >= 0; i-- {
		if c.decls[i].prefix == prefix {
			return c.decls[i].uri, true
		}
	}
	return "", prefix == ""
}

// inScope returns a copy of the declarations in scope, innermost winning.
func (c *nsContext) inScope() []nsDecl {
	var out []nsDecl
	for i := len(c.decls) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(out, func(d nsDecl) bool { return d.prefix == c.decls[i].prefix }) {
			out = append(out, c.decls[i])
		}
	}
	return out
}

// c14nWriter writes the exclusive canonical form of the elements fed to it
// to w, tracking what its output ancestors rendered.
type c14nWriter struct {
	w         io.Writer
	buf       []byte
	inclusive []string // InclusiveNamespaces PrefixList ("#default" = "")
	rendered  nsContext
	nsBuf     []nsDecl
	attrBuf   []c14nAttr
}

type c14nAttr struct {
	uri, qname, local, value string
}

const c14nFlushAt = 64 << 10

func newC14NWriter(w io.Writer, inclusive []string) *c14nWriter {
	return &c14nWriter{w: w, inclusive: inclusive, buf: make([]byte, 0, c14nFlushAt+4096)}
}

func (e *c14nWriter) flushIfFull() error {
	if len(e.buf) < c14nFlushAt {
		return nil
	}
	return e.flush()
}

func (e *c14nWriter) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// start writes a start tag. t is the raw token (prefixes in Name.Space),
// ns the context with t's own declarations already pushed.
func (e *c14nWriter) start(t *xml.StartElement, ns *nsContext) error {
	e.nsBuf = e.nsBuf[:0]
	if err := e.need(t.Name.Space, ns); err != nil {
		return err
	}
	e.attrBuf = e.attrBuf[:0]
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		at := c14nAttr{local: a.Name.Local, qname: a.Name.Local, value: a.Value}
		if a.Name.Space != "" {
			if err := e.need(a.Name.Space, ns); err != nil {
				return err
			}
			at.uri, _ = ns.lookup(a.Name.Space)
			at.qname = a.Name.Space + ":" + a.Name.Local
		}
		e.attrBuf = append(e.attrBuf, at)
	}
	for _, p := range e.inclusive {
		if _, ok := ns.lookup(p); ok {
			if err := e.need(p, ns); err != nil {
				return err
			}
		}
	}
	slices.SortFunc(e.nsBuf, func(a, b nsDecl) int { return strings.Compare(a.prefix, b.prefix) })
	slices.SortFunc(e.attrBuf, func(a, b c14nAttr) int {
		if c := strings.Compare(a.uri, b.uri); c != 0 {
			return c
		}
		return strings.Compare(a.local, b.local)
	})
	for i := 1; i < len(e.attrBuf); i++ {
		if a, b := e.attrBuf[i-1], e.attrBuf[i]; a.uri == b.uri && a.local == b.local {
			return fmt.Errorf("attributes %s and %s have the same namespace and name", a.qname, b.qname)
		}
	}
	e.buf = append(e.buf, '<')
	e.buf = appendQName(e.buf, t.Name)
	e.rendered.marks = append(e.rendered.marks, len(e.rendered.decls))
	for _, d := range e.nsBuf {
		if d.prefix == "" {
			e.buf = append(e.buf, ` xmlns="`...)
		} else {
			e.buf = append(e.buf, ` xmlns:`...)
			e.buf = append(e.buf, d.prefix...)
			e.buf = append(e.buf, `="`...)
		}
		e.buf = appendAttrValue(e.buf, d.uri)
		e.buf = append(e.buf, '"')
		e.rendered.decls = append(e.rendered.decls, d)
	}
	for _, a := range e.attrBuf {
		e.buf = append(e.buf, ' ')
		e.buf = append(e.buf, a.qname...)
		e.buf = append(e.buf, `="`...)
		e.buf = appendAttrValue(e.buf, a.value)
		e.buf = append(e.buf, '"')
	}
	e.buf = append(e.buf, '>')
	return e.flushIfFull()
}

// need adds prefix's declaration to e.nsBuf when the output ancestors did
// not render it with the same URI.
func (e *c14nWriter) need(prefix string, ns *nsContext) error {
	if prefix == "xml" || slices.ContainsFunc(e.nsBuf, func(d nsDecl) bool { return d.prefix == prefix }) {
		return nil
	}
	uri, ok := ns.lookup(prefix)
	if !ok {
		return fmt.Errorf("namespace prefix %q is not declared", prefix)
	}
	have, rendered := e.rendered.lookup(prefix)
	if prefix == "" {
		rendered = rendered && have != "" // xmlns="" rendered is as good as none
		if uri == "" && !rendered || rendered && have == uri {
			return nil
		}
	} else if rendered && have == uri {
		return nil
	}
	e.nsBuf = append(e.nsBuf, nsDecl{prefix, uri})
	return nil
}

// end writes an end tag.
func (e *c14nWriter) end(name xml.Name) error {
	e.buf = append(e.buf, '<', '/')
	e.buf = appendQName(e.buf, name)
	e.buf = append(e.buf, '>')
	e.rendered.pop()
	return e.flushIfFull()
}

// text writes character data.
func (e *c14nWriter) text(s []byte) error {
	e.buf = appendText(e.buf, s)
	return e.flushIfFull()
}

// procInst writes a processing instruction inside the apex.
func (e *c14nWriter) procInst(p xml.ProcInst) error {
	e.buf = append(e.buf, "<?"...)
	e.buf = append(e.buf, p.Target...)
	if len(p.Inst) > 0 {
		e.buf = append(e.buf, ' ')
		e.buf = append(e.buf, p.Inst...)
	}
	e.buf = append(e.buf, "?>"...)
	return e.flushIfFull()
}

func appendQName(b []byte, n xml.Name) []byte {
	if n.Space != "" {
		b = append(b, n.Space...)
		b = append(b, ':')
	}
	return append(b, n.Local...)
}

func appendText(b []byte, s []byte) []byte {
	last := 0
	for i, c := range s {
		var esc string
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

func appendAttrValue(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '"':
			esc = "&quot;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}
