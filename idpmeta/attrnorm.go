package idpmeta

import (
	"bytes"
	"io"
)

// attrNormalizer applies XML 1.0 attribute-value normalization (§3.3.3)
// to the bytes of a document as they stream by: a literal TAB, LF, CR or
// CR LF inside a quoted attribute value becomes one space. encoding/xml
// does not do this (it keeps them, and cannot tell them from the &#xA;
// character references that must stay), while the signer's XML parser
// (libxml2 for xmlsec1, Xerces for Santuario) does, and canonicalizes and
// signs the normalized value; without it an aggregate with a line break
// inside an attribute would never verify. Character references are left
// alone, so the decoder still turns &#xA; into a line feed. It tracks
// just enough of the syntax to know where attribute values are: tags,
// comments, CDATA sections and processing instructions.
type attrNormalizer struct {
	r      io.Reader
	state  byte // one of the norm* states
	quote  byte // the quote of the attribute value being read
	run    int  // consecutive '-' (comment), ']' (CDATA) or '?' (PI) just read
	skipLF bool // a CR in an attribute value was just turned into a space
	bang   int  // bytes of "<!" matched so far towards "--" or "[CDATA["
}

const (
	normText = iota
	normLT   // just read '<'
	normBang // "<!": a comment, CDATA section or declaration
	normTag
	normValue
	normComment
	normCDATA
	normPI
)

func (n *attrNormalizer) Read(p []byte) (int, error) {
	for {
		m, err := n.r.Read(p)
		w := 0
		for i := 0; i < m; i++ {
			if n.state == normText && !n.skipLF {
				// fast path: text runs to the next '<' untouched
				j := bytes.IndexByte(p[i:m], '<')
				if j < 0 {
					j = m - i
				}
				if w != i {
					copy(p[w:], p[i:i+j])
				}
				w, i = w+j, i+j
				if i == m {
					break
				}
			}
			c := p[i]
			if n.skipLF {
				n.skipLF = false
				if c == '\n' {
					continue
				}
			}
			c = n.step(c)
			p[w] = c
			w++
		}
		if w > 0 || err != nil {
			return w, err
		}
	}
}

// step advances the state over c and returns the byte to emit.
func (n *attrNormalizer) step(c byte) byte {
	switch n.state {
	case normText:
		if c == '<' {
			n.state = normLT
		}
	case normLT:
		switch c {
		case '?':
			n.state, n.run = normPI, 0
		case '!':
			n.state, n.bang = normBang, 0
		default:
			n.state = normTag
		}
	case normBang:
		switch {
		case n.bang == 0 && c == '-':
			n.bang = 1
		case n.bang == 1 && c == '-':
			n.state, n.run = normComment, 0
		case n.bang == 0 && c == '[':
			n.state, n.run = normCDATA, 0
		default:
			n.state = normTag // a declaration (refused later): quoted strings as in a tag
		}
	case normTag:
		switch c {
		case '"', '\'':
			n.state, n.quote = normValue, c
		case '>':
			n.state = normText
		}
	case normValue:
		switch c {
		case n.quote:
			n.state = normTag
		case '\t', '\n':
			return ' '
		case '\r':
			n.skipLF = true
			return ' '
		}
	case normComment:
		n.state, n.run = closeRun(c, '-', n.run, normComment)
	case normCDATA:
		n.state, n.run = closeRun(c, ']', n.run, normCDATA)
	case normPI:
		if c == '>' && n.run > 0 {
			n.state = normText
		}
		if c == '?' {
			n.run = 1
		} else {
			n.run = 0
		}
	}
	return c
}

// closeRun ends a comment ("-->") or CDATA section ("]]>"): two of mark,
// then '>'.
func closeRun(c, mark byte, run int, state byte) (byte, int) {
	switch {
	case c == mark:
		return state, run + 1
	case c == '>' && run >= 2:
		return normText, 0
	}
	return state, 0
}
