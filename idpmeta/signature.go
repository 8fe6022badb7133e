package idpmeta

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"

	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/sp"
)

// The transform and canonicalization URIs an aggregate's signature may use.
const (
	algExcC14N     = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algEnveloped   = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
	maxSignatureTk = 512 // tokens of a ds:Signature: far above the ~40 of a real one
)

// ErrSignature is wrapped by every refusal of a metadata signature.
var ErrSignature = errors.New("metadata signature not valid")

// signatureCapture collects the tokens of the root's ds:Signature.
type signatureCapture struct {
	outer  []nsDecl // in scope at the Signature's parent
	tokens []xml.Token
	over   bool
}

func (c *signatureCapture) add(t xml.Token) {
	if len(c.tokens) >= maxSignatureTk {
		c.over = true
		return
	}
	c.tokens = append(c.tokens, t)
}

// signature is what a captured ds:Signature says.
type signature struct {
	signedInfo   []byte // its exclusive canonical form
	method       sp.Algorithm
	refURI       string
	refPrefixes  []string // the exc-c14n transform's InclusiveNamespaces
	digest       sp.DigestAlgorithm
	digestValue  []byte
	signatureVal []byte
}

// sigWalk tracks where a walk over the captured tokens is.
type sigWalk struct {
	path []string // local names of the ds elements open
	text strings.Builder
	s    signature

	siStart, siEnd int // token range of SignedInfo
	siPrefixes     []string
	c14nAlg        string
	transforms     []string
	refs           int
}

// parse reads the captured Signature and canonicalizes its SignedInfo.
func (c *signatureCapture) parse() (*signature, error) {
	if c.over {
		return nil, fmt.Errorf("ds:Signature has over %d tokens: %w", maxSignatureTk, ErrSignature)
	}
	w := &sigWalk{siStart: -1}
	ns := nsContext{}
	if err := ns.push(declAttrs(c.outer)); err != nil {
		return nil, err
	}
	for i, tok := range c.tokens {
		switch t := tok.(type) {
		case xml.StartElement:
			if err := ns.push(t.Attr); err != nil {
				return nil, err
			}
			space, _ := ns.lookup(t.Name.Space)
			if err := w.start(i, space, t); err != nil {
				return nil, err
			}
		case xml.EndElement:
			w.end(i)
			ns.pop()
		case xml.CharData:
			w.text.Write(t)
		}
	}
	return w.finish(c)
}

func (w *sigWalk) start(i int, space string, t xml.StartElement) error {
	w.text.Reset()
	where := strings.Join(w.path, "/")
	name := t.Name.Local
	switch space {
	case nsDSig:
	case algExcC14N:
		name = "ec:" + name
	default:
		name = "?" + name // foreign content: matches no case below
	}
	switch where + ">" + name {
	case "Signature>SignedInfo":
		w.siStart = i
	case "Signature/SignedInfo>CanonicalizationMethod":
		w.c14nAlg = attr(t, "Algorithm")
	case "Signature/SignedInfo/CanonicalizationMethod>ec:InclusiveNamespaces":
		w.siPrefixes = prefixList(attr(t, "PrefixList"))
	case "Signature/SignedInfo>SignatureMethod":
		a, err := sp.LookupAlgorithm(attr(t, "Algorithm"))
		if err != nil {
			return fmt.Errorf("SignatureMethod: %w: %w", err, ErrSignature)
		}
		w.s.method = a
	case "Signature/SignedInfo>Reference":
		if w.refs++; w.refs > 1 {
			return fmt.Errorf("more than one ds:Reference: %w", ErrSignature)
		}
		w.s.refURI = attr(t, "URI")
	case "Signature/SignedInfo/Reference/Transforms>Transform":
		w.transforms = append(w.transforms, attr(t, "Algorithm"))
	case "Signature/SignedInfo/Reference/Transforms/Transform>ec:InclusiveNamespaces":
		w.s.refPrefixes = prefixList(attr(t, "PrefixList"))
	case "Signature/SignedInfo/Reference>DigestMethod":
		d, err := sp.LookupDigestAlgorithm(attr(t, "Algorithm"))
		if err != nil {
			return fmt.Errorf("DigestMethod: %w: %w", err, ErrSignature)
		}
		w.s.digest = d
	}
	w.path = append(w.path, name)
	return nil
}

func (w *sigWalk) end(i int) {
	where := strings.Join(w.path, "/")
	switch where {
	case "Signature/SignedInfo":
		w.siEnd = i
	case "Signature/SignedInfo/Reference/DigestValue":
		w.s.digestValue, _ = base64.StdEncoding.DecodeString(stripSpace(w.text.String()))
	case "Signature/SignatureValue":
		w.s.signatureVal, _ = base64.StdEncoding.DecodeString(stripSpace(w.text.String()))
	}
	w.path = w.path[:len(w.path)-1]
	w.text.Reset()
}

// finish checks what the walk found and canonicalizes SignedInfo.
func (w *sigWalk) finish(c *signatureCapture) (*signature, error) {
	switch {
	case w.siStart < 0 || w.siEnd <= w.siStart:
		return nil, fmt.Errorf("no ds:SignedInfo: %w", ErrSignature)
	case w.c14nAlg != algExcC14N:
		return nil, fmt.Errorf("SignedInfo canonicalization %q: only exclusive c14n (%s) is accepted: %w", w.c14nAlg, algExcC14N, ErrSignature)
	case w.refs != 1:
		return nil, fmt.Errorf("no ds:Reference: %w", ErrSignature)
	case len(w.transforms) != 2 || w.transforms[0] != algEnveloped || w.transforms[1] != algExcC14N:
		return nil, fmt.Errorf("reference transforms %q: want enveloped-signature then exclusive c14n: %w", w.transforms, ErrSignature)
	case w.s.method.URI == "" || w.s.digest.URI == "":
		return nil, fmt.Errorf("no SignatureMethod or DigestMethod: %w", ErrSignature)
	case len(w.s.digestValue) == 0 || len(w.s.signatureVal) == 0:
		return nil, fmt.Errorf("empty or malformed DigestValue or SignatureValue: %w", ErrSignature)
	}
	var buf bytes.Buffer
	cw := newC14NWriter(&buf, w.siPrefixes)
	ns := nsContext{}
	if err := ns.push(declAttrs(c.outer)); err != nil {
		return nil, err
	}
	for i, tok := range c.tokens {
		switch t := tok.(type) {
		case xml.StartElement:
			if err := ns.push(t.Attr); err != nil {
				return nil, err
			}
			if i >= w.siStart && i < w.siEnd {
				if err := cw.start(&t, &ns); err != nil {
					return nil, err
				}
			}
		case xml.EndElement:
			if i > w.siStart && i <= w.siEnd {
				if err := cw.end(t.Name); err != nil {
					return nil, err
				}
			}
			ns.pop()
		case xml.CharData:
			if i > w.siStart && i < w.siEnd {
				if err := cw.text(t); err != nil {
					return nil, err
				}
			}
		case xml.ProcInst:
			if i > w.siStart && i < w.siEnd {
				if err := cw.procInst(t); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := cw.flush(); err != nil {
		return nil, err
	}
	w.s.signedInfo = buf.Bytes()
	return &w.s, nil
}

// check verifies the signature: the reference names the root, the
// algorithms are allowed, the digest matches and SignedInfo is signed by
// cert.
func (s *signature) check(rootID string, digest []byte, cert *x509.Certificate, allowSHA1 bool) error {
	if s.refURI != "" && (rootID == "" || s.refURI != "#"+rootID) {
		return fmt.Errorf("reference URI %q does not name the root element (ID %q): %w", s.refURI, rootID, ErrSignature)
	}
	for _, uri := range []string{s.method.URI, s.digest.URI} {
		if err := fips.Algorithm(uri); err != nil { // allow_sha1 lifts nothing in FIPS 140-3 mode
			return fmt.Errorf("signed with %w: %w", err, ErrSignature)
		}
	}
	if !allowSHA1 && (s.method.Deprecated || s.digest.Deprecated) {
		return fmt.Errorf("signed with %s / %s (SHA-1): refused; set allow_sha1 on the source only while the federation cannot sign with SHA-256: %w", s.method.Name, s.digest.Name, ErrSignature)
	}
	if !bytes.Equal(digest, s.digestValue) {
		return fmt.Errorf("digest does not match the document (changed after signing): %w", ErrSignature)
	}
	h := s.method.Hash.New()
	h.Write(s.signedInfo)
	sum := h.Sum(nil)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if s.method.Key != sp.KeyRSA {
			return fmt.Errorf("%s with an RSA signing certificate: %w", s.method.Name, ErrSignature)
		}
		if err := rsa.VerifyPKCS1v15(pub, s.method.Hash, sum, s.signatureVal); err != nil {
			return fmt.Errorf("signature value does not verify with %q: %w", cert.Subject.String(), ErrSignature)
		}
	case *ecdsa.PublicKey:
		n := len(s.signatureVal) / 2
		if s.method.Key != sp.KeyEC || n == 0 || len(s.signatureVal)%2 != 0 ||
			!ecdsa.Verify(pub, sum, new(big.Int).SetBytes(s.signatureVal[:n]), new(big.Int).SetBytes(s.signatureVal[n:])) {
			return fmt.Errorf("signature value does not verify with %q: %w", cert.Subject.String(), ErrSignature)
		}
	default:
		return fmt.Errorf("signing certificate key %T not supported: %w", cert.PublicKey, ErrSignature)
	}
	return nil
}

// hasher returns a fresh hash of the reference's digest method.
func (s *signature) hasher() hash.Hash {
	return crypto.Hash(s.digest.Hash).New()
}

func attr(t xml.StartElement, local string) string {
	for _, a := range t.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func prefixList(s string) []string {
	var out []string
	for _, p := range strings.Fields(s) {
		if p == "#default" {
			p = ""
		}
		out = append(out, p)
	}
	return out
}

// declAttrs turns declarations back into xmlns attributes.
func declAttrs(ds []nsDecl) []xml.Attr {
	out := make([]xml.Attr, 0, len(ds))
	for _, d := range ds {
		if d.prefix == "" {
			out = append(out, xml.Attr{Name: xml.Name{Local: "xmlns"}, Value: d.uri})
		} else {
			out = append(out, xml.Attr{Name: xml.Name{Space: "xmlns", Local: d.prefix}, Value: d.uri})
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}
