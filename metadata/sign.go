package metadata

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// deprecated signature algorithms: accepted only when configured
// explicitly, with a warning on every rendering; refused in FIPS 140-3
// mode (keys/fips), as is an RSA key under 2048 bits.
var deprecatedAlgorithms = []string{dsig.RSASHA1SignatureMethod, dsig.ECDSASHA1SignatureMethod}

// sign makes an enveloped signature over root (exclusive c14n, reference
// to root's ID) with the signing credential c and inserts it as root's
// first element child, where the metadata schema wants ds:Signature. The
// whitespace already in root is left alone, so the digest still matches
// once the enveloped-signature transform removes the Signature again.
func sign(root *etree.Element, c *keys.Credential, algorithm string) (warnings []string, err error) {
	if c.Signer == nil {
		return nil, fmt.Errorf("%w: signing record %q has no private key", ErrSign, c.RecordName)
	}
	if pub, ok := c.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.Leaf().PublicKey) {
		return nil, fmt.Errorf("%w: signing record %q: the private key does not match the certificate: re-import the certificate issued for this key", ErrSign, c.RecordName)
	}
	if algorithm == "" {
		switch c.Signer.Public().(type) {
		case *rsa.PublicKey:
			algorithm = dsig.RSASHA256SignatureMethod
		case *ecdsa.PublicKey:
			algorithm = dsig.ECDSASHA256SignatureMethod
		default:
			return nil, fmt.Errorf("%w: signing record %q: key type %T cannot sign XML: use an RSA or EC key", ErrSign, c.RecordName, c.Signer.Public())
		}
	}
	if err := fips.Algorithm(algorithm); err != nil {
		return nil, fmt.Errorf("%w: signing record %q: sp.metadata.signature_algorithm: %w", ErrSign, c.RecordName, err)
	}
	if err := fips.Key(c.Signer.Public()); err != nil {
		return nil, fmt.Errorf("%w: signing record %q: %w", ErrSign, c.RecordName, err)
	}
	signer := c.Signer
	if pub, ok := signer.Public().(*ecdsa.PublicKey); ok {
		signer = rawECDSASigner{signer, (pub.Curve.Params().BitSize + 7) / 8}
	}
	ctx, err := dsig.NewSigningContext(signer, [][]byte{c.Leaf().Raw})
	if err != nil {
		return nil, fmt.Errorf("%w: signing record %q: %w", ErrSign, c.RecordName, err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	ctx.IdAttribute = "ID"
	ctx.Prefix = "ds"
	if err := ctx.SetSignatureMethod(algorithm); err != nil {
		return nil, fmt.Errorf("%w: signing record %q: sp.metadata.signature_algorithm: %w: pick an algorithm that fits the key (rsa-sha256 for RSA, ecdsa-sha256 for EC)", ErrSign, c.RecordName, err)
	}
	if slices.Contains(deprecatedAlgorithms, algorithm) {
		warnings = append(warnings, fmt.Sprintf("metadata is signed with the deprecated algorithm %s: set sp.metadata.signature_algorithm to a SHA-2 algorithm", algorithm))
	}
	// goxmldsig canonicalizes the element it digests in place; give it a
	// copy so the document keeps its own namespace layout.
	sig, err := ctx.ConstructSignature(root.Copy(), true)
	if err != nil {
		return nil, fmt.Errorf("%w: signing record %q: %w", ErrSign, c.RecordName, err)
	}
	// Insert before the first element child: after the indentation text
	// that precedes it, so no new whitespace enters the signed content.
	at := len(root.Child)
	for i, tok := range root.Child {
		if _, ok := tok.(*etree.Element); ok {
			at = i
			break
		}
	}
	root.InsertChildAt(at, sig)
	return warnings, nil
}

// rawECDSASigner turns a crypto.Signer's ASN.1 DER ECDSA signature into the
// fixed-size r||s concatenation XML-DSig requires (RFC 4051 §3.3.1, XML
// Signature 1.1 §6.4.3). goxmldsig v1.6.1 writes the DER form as it comes
// from the signer, which xmlsec1 and other verifiers reject; its validator
// also expects DER (russellhaering/goxmldsig#163, fix in PR #164, open).
type rawECDSASigner struct {
	crypto.Signer
	size int // bytes of each of r and s
}

func (s rawECDSASigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	der, err := s.Signer.Sign(rand, digest, opts)
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, fmt.Errorf("ecdsa signer returned a malformed signature: %v", err)
	}
	if rs.R.BitLen() > 8*s.size || rs.S.BitLen() > 8*s.size {
		return nil, fmt.Errorf("ecdsa signature does not fit the curve size")
	}
	out := make([]byte, 2*s.size)
	rs.R.FillBytes(out[:s.size])
	rs.S.FillBytes(out[s.size:])
	return out, nil
}
