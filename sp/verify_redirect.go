package sp

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// redirectParams are the query parameters the HTTP-Redirect binding
// defines; every other parameter (the endpoint's own) is ignored and is
// not signed.
var redirectParams = [...]string{ParamSAMLRequest, ParamSAMLResponse, ParamRelayState, paramSigAlg, paramSignature, paramSAMLEncoding}

// redirectQuery is a query string split into the binding's parameters,
// each value exactly as received (still URL-encoded).
type redirectQuery struct {
	param string            // ParamSAMLRequest or ParamSAMLResponse
	raw   map[string]string // parameter name → value as received
}

// VerifyRedirect verifies a message the HTTP-Redirect binding delivered,
// given the raw query string as received (the part of the URL after '?',
// without the fragment; never re-encoded). The signature is checked over
// the octets SAML bindings §3.4.4.1 names — SAMLRequest or SAMLResponse,
// RelayState when present, and SigAlg, in that order, joined with '&',
// each "name=value" exactly as it appeared in the query — so whatever
// percent-encoding the sender chose (lower-case escapes, as ADFS sends,
// included) verifies, and a query re-encoded after signing does not.
//
// certs are the sender's signing certificates (their validity periods are
// not checked: the keys are trusted as configured); the first whose key
// verifies is returned as Signer. An rsa-sha1 signature needs allowSHA1.
// The message is inflated and parsed only after the signature verified.
// Every refusal is a *MessageError.
func VerifyRedirect(rawQuery string, certs []*x509.Certificate, allowSHA1 bool) (*ReceivedMessage, error) {
	return verifyRedirectLimits(rawQuery, certs, allowSHA1, Limits{})
}

// verifyRedirectLimits is VerifyRedirect with the structural limits l (zero
// fields: DefaultLimits).
func verifyRedirectLimits(rawQuery string, certs []*x509.Certificate, allowSHA1 bool, l Limits) (*ReceivedMessage, error) {
	q, err := splitRedirect(rawQuery)
	if err != nil {
		return nil, err
	}
	return q.verify(certs, allowSHA1, l)
}

// verify checks q's signature, then decodes its message.
func (q *redirectQuery) verify(certs []*x509.Certificate, allowSHA1 bool, l Limits) (*ReceivedMessage, error) {
	if _, ok := q.raw[paramSignature]; !ok {
		return nil, refuseMessage(CheckSignature, "%s is not signed (no SigAlg and Signature)", q.param)
	}
	uri, err := url.QueryUnescape(q.raw[paramSigAlg])
	if err != nil {
		return nil, refuseMessage(CheckMalformed, "SigAlg is not URL-encoded: %v", err)
	}
	alg, err := signatureAlgorithm(uri, allowSHA1)
	if err != nil {
		return nil, err
	}
	sigB64, err := url.QueryUnescape(q.raw[paramSignature])
	if err != nil {
		return nil, refuseMessage(CheckMalformed, "Signature is not URL-encoded: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return nil, refuseMessage(CheckSignature, "Signature is not base64: %v", err)
	}
	cert, err := verifyRawSignature(alg, certs, q.signedOctets(), sig)
	if err != nil {
		return nil, err
	}
	m, err := q.message(l)
	if err != nil {
		return nil, err
	}
	m.Algorithm, m.Signer = alg, cert
	return m, nil
}

// ParseRedirect reads a message the HTTP-Redirect binding delivered
// without checking its signature, for a sender whose record allows
// unsigned messages. A message that is signed (Signed) should go to
// VerifyRedirect instead. Every refusal is a *MessageError.
func ParseRedirect(rawQuery string) (*ReceivedMessage, error) {
	return parseRedirect(rawQuery, Limits{})
}

func parseRedirect(rawQuery string, l Limits) (*ReceivedMessage, error) {
	q, err := splitRedirect(rawQuery)
	if err != nil {
		return nil, err
	}
	return q.message(l)
}

// splitRedirect splits rawQuery at '&' into the binding's parameters,
// keeping each value as received. A binding parameter that occurs twice,
// whose name is percent-encoded, or both SAMLRequest and SAMLResponse, is
// refused: a reader that decodes differently would see another message
// than the one verified.
func splitRedirect(rawQuery string) (*redirectQuery, error) {
	if len(rawQuery) > MaxRedirectQuery {
		return nil, refuseMessage(CheckMalformed, "query string is %d bytes, over the %d-byte cap", len(rawQuery), MaxRedirectQuery)
	}
	q := &redirectQuery{raw: map[string]string{}}
	for kv := range strings.SplitSeq(rawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return nil, refuseMessage(CheckMalformed, "a query parameter name is not URL-encoded: %v", err)
		}
		if !slices.Contains(redirectParams[:], name) {
			continue
		}
		if name != k {
			return nil, refuseMessage(CheckMalformed, "query parameter %s has a percent-encoded name", name)
		}
		if _, dup := q.raw[k]; dup {
			return nil, refuseMessage(CheckMalformed, "query parameter %s occurs twice", k)
		}
		q.raw[k] = v
	}
	_, req := q.raw[ParamSAMLRequest]
	_, resp := q.raw[ParamSAMLResponse]
	switch {
	case req && resp:
		return nil, refuseMessage(CheckMalformed, "query holds both SAMLRequest and SAMLResponse")
	case req:
		q.param = ParamSAMLRequest
	case resp:
		q.param = ParamSAMLResponse
	default:
		return nil, refuseMessage(CheckMalformed, "query holds neither SAMLRequest nor SAMLResponse")
	}
	_, alg := q.raw[paramSigAlg]
	_, sig := q.raw[paramSignature]
	if alg != sig {
		return nil, refuseMessage(CheckMalformed, "query holds one of SigAlg and Signature without the other")
	}
	if raw, ok := q.raw[paramSAMLEncoding]; ok {
		if enc, err := url.QueryUnescape(raw); err != nil || enc != encodingDEFLATE {
			return nil, refuseMessage(CheckMalformed, "SAMLEncoding %q is not supported: only DEFLATE", raw)
		}
	}
	return q, nil
}

// signedOctets are the octets a redirect signature covers (bindings
// §3.4.4.1), built from the values as received, in the spec's order
// whatever order the query had. RelayState is included when the parameter
// was present, even empty.
func (q *redirectQuery) signedOctets() []byte {
	var b bytes.Buffer
	b.Grow(len(q.raw[q.param]) + len(q.raw[ParamRelayState]) + len(q.raw[paramSigAlg]) + 64)
	b.WriteString(q.param + "=" + q.raw[q.param])
	if rs, ok := q.raw[ParamRelayState]; ok {
		b.WriteString("&" + ParamRelayState + "=" + rs)
	}
	b.WriteString("&" + paramSigAlg + "=" + q.raw[paramSigAlg])
	return b.Bytes()
}

// message decodes the SAML parameter (URL decoding, base64, raw DEFLATE
// within MaxResponseXML), parses it (round-trip checked, no DTD) and reads
// RelayState.
func (q *redirectQuery) message(l Limits) (*ReceivedMessage, error) {
	m := &ReceivedMessage{Binding: BindingRedirect, Param: q.param}
	_, m.Signed = q.raw[paramSignature]
	if raw, ok := q.raw[ParamRelayState]; ok {
		rs, err := url.QueryUnescape(raw)
		if err != nil {
			return nil, refuseMessage(CheckMalformed, "RelayState is not URL-encoded: %v", err)
		}
		m.RelayState = rs
	}
	b64, err := url.QueryUnescape(q.raw[q.param])
	if err != nil {
		return nil, refuseMessage(CheckMalformed, "%s is not URL-encoded: %v", q.param, err)
	}
	deflated, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(deflated) == 0 {
		return nil, refuseMessage(CheckMalformed, "%s is empty or not base64", q.param)
	}
	inflated, err := inflateRaw(deflated, MaxResponseXML+1)
	if err != nil {
		return nil, refuseMessage(CheckMalformed, "%s does not inflate: %v", q.param, err)
	}
	if len(inflated) > MaxResponseXML {
		return nil, refuseMessage(CheckMalformed, "%s inflates to more than the %d-byte cap", q.param, MaxResponseXML)
	}
	doc, err := parseTree(inflated, l) // one pass: each token is checked before it is used
	if err != nil {
		return nil, asMessageError(err)
	}
	if m.Kind, m.ID, err = checkRoot(q.param, doc.Root()); err != nil {
		return nil, err
	}
	m.XML, m.root = inflated, doc.Root()
	return m, nil
}

// inflaters holds raw DEFLATE readers for reuse: each new one allocates its
// 32 KiB window, which cost a redirect verification a tenth of its time.
// A sync.Pool is safe for concurrent use and holds no state between uses
// (Reset replaces all of it).
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflateRaw undoes raw DEFLATE, reading at most max bytes.
func inflateRaw(deflated []byte, max int64) ([]byte, error) {
	r := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(deflated), nil); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(r, max))
}
