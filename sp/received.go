package sp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/beevik/etree"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// Limits of received protocol messages, checked before any decoding. The
// XML caps are the response validator's (MaxResponseBase64, MaxResponseXML).
const (
	// MaxRedirectQuery is the longest HTTP-Redirect query string, in bytes,
	// VerifyRedirect and ParseRedirect read.
	MaxRedirectQuery = 128 << 10
)

// The SAML parameter names of both bindings.
const (
	ParamSAMLRequest  = "SAMLRequest"
	ParamSAMLResponse = "SAMLResponse"
	ParamRelayState   = "RelayState"
	paramSigAlg       = "SigAlg"
	paramSignature    = "Signature"
	paramSAMLEncoding = "SAMLEncoding"
	encodingDEFLATE   = "urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE"
)

// MessageError is a refused protocol message that an HTTP binding
// delivered (VerifyRedirect, VerifyPOST, ParseRedirect, ParsePOST). Check
// names the failed check with the names ResponseError uses for the same
// failures: CheckMalformed (too big, not decodable, not well-formed or
// unstable XML, not the message the parameter announces) or CheckSignature
// (missing, an algorithm that is not accepted, or no certificate verifies
// it). Err says why, for the log; a caller who may be an attacker is told
// Check only.
type MessageError struct {
	Check string
	Err   error
}

func (e *MessageError) Error() string { return "saml message: " + e.Check + ": " + e.Err.Error() }
func (e *MessageError) Unwrap() error { return e.Err }

func refuseMessage(check, format string, args ...any) *MessageError {
	return &MessageError{Check: check, Err: fmt.Errorf(format, args...)}
}

// ReceivedMessage is a SAML protocol message as an HTTP binding delivered
// it. From VerifyRedirect or VerifyPOST its signature has verified with
// Signer and XML holds only signed bytes; from ParseRedirect or ParsePOST
// nothing is verified (Signer is nil) and the caller decides whether an
// unsigned message is acceptable.
type ReceivedMessage struct {
	Binding string // BindingRedirect or BindingPOST
	Param   string // ParamSAMLRequest or ParamSAMLResponse: the parameter that carried it
	Kind    string // the root element's local name: "LogoutRequest", "LogoutResponse", "AuthnRequest", …
	ID      string // the root element's ID
	// RelayState is the decoded RelayState parameter ("" when absent). The
	// redirect signature covers it; a POST signature does not.
	RelayState string
	// Signed reports whether the message carried a signature (SigAlg and
	// Signature, or a ds:Signature child of the root).
	Signed bool
	// Algorithm is the signature algorithm; set once verified.
	Algorithm Algorithm
	// Signer is the certificate whose key verified the signature; nil
	// until verified.
	Signer *x509.Certificate
	// XML is the message: for the redirect binding the inflated document
	// (the signature covers all of it); for the POST binding after
	// VerifyPOST the signed element as verified (the Reference's bytes,
	// canonicalized), else the decoded document.
	XML []byte

	root *etree.Element
}

// checkRoot checks that root is a SAML 2.0 protocol message of the kind
// param announces (a request for SAMLRequest, a response for SAMLResponse)
// with an ID, and returns its local name and ID.
func checkRoot(param string, root *etree.Element) (kind, id string, err error) {
	if root == nil {
		return "", "", refuseMessage(CheckMalformed, "%s holds no element", param)
	}
	if root.NamespaceURI() != nsProtocol {
		return "", "", refuseMessage(CheckMalformed, "%s root element %s is not in the SAML 2.0 protocol namespace", param, root.FullTag())
	}
	want := strings.TrimPrefix(param, "SAML") // "Request" or "Response"
	if !strings.HasSuffix(root.Tag, want) {
		return "", "", refuseMessage(CheckMalformed, "%s holds a %s, not a %s", param, root.Tag, strings.ToLower(want))
	}
	if ver := root.SelectAttrValue("Version", ""); ver != "2.0" {
		return "", "", refuseMessage(CheckMalformed, "%s Version %q, want 2.0", root.Tag, ver)
	}
	id = root.SelectAttrValue("ID", "")
	if id == "" {
		return "", "", refuseMessage(CheckMalformed, "%s has no ID", root.Tag)
	}
	return root.Tag, id, nil
}

// signatureAlgorithm returns the registered algorithm whose XML-DSig URI
// is uri (short names are not accepted from the wire). A SHA-1 algorithm
// needs allowSHA1, and is refused in FIPS 140-3 mode whatever allowSHA1 says.
func signatureAlgorithm(uri string, allowSHA1 bool) (Algorithm, error) {
	if err := fips.Algorithm(uri); err != nil {
		return Algorithm{}, refuseMessage(CheckSignature, "signature algorithm %w", err)
	}
	for _, a := range algorithms() {
		if a.URI != uri {
			continue
		}
		if a.Hash == crypto.SHA1 && !allowSHA1 {
			return Algorithm{}, refuseMessage(CheckSignature, "signature algorithm %s is not accepted from this sender (rsa-sha1 must be allowed for it)", a.Name)
		}
		return a, nil
	}
	return Algorithm{}, refuseMessage(CheckSignature, "signature algorithm %q is not supported", uri)
}

// verifyRawSignature verifies a raw signature value over data (RSA PKCS#1 v1.5, or
// ECDSA as XML-DSig 1.1's r||s) with each certificate in turn, and returns
// the first that verifies.
func verifyRawSignature(alg Algorithm, certs []*x509.Certificate, data, sig []byte) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, refuseMessage(CheckSignature, "no certificate to verify the signature with")
	}
	h := alg.Hash.New()
	h.Write(data)
	digest := h.Sum(nil)
	for _, c := range certs {
		if verifyDigest(c.PublicKey, alg, digest, sig) {
			return c, nil
		}
	}
	return nil, refuseMessage(CheckSignature, "%s signature does not verify with any of the %d certificates", alg.Name, len(certs))
}

func verifyDigest(pub crypto.PublicKey, alg Algorithm, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return alg.Key == KeyRSA && rsa.VerifyPKCS1v15(k, alg.Hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if alg.Key != KeyEC || len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest, r, s)
	}
	return false
}

// asMessageError keeps a *MessageError and files anything else under
// CheckMalformed.
func asMessageError(err error) error {
	var me *MessageError
	if errors.As(err, &me) {
		return err
	}
	return &MessageError{Check: CheckMalformed, Err: err}
}
