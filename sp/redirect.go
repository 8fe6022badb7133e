package sp

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/beevik/etree"
)

// redirect encodes doc for the HTTP-Redirect binding (SAML bindings 3.4.4):
// raw DEFLATE (RFC 1951), base64, and when signing the query signature of
// 3.4.4.1, computed over exactly the octets
//
//	SAMLRequest=value&RelayState=value&SigAlg=value
//
// (SAMLResponse for a LogoutResponse)
//
// each value URL-encoded, RelayState left out when empty. The Destination's
// own query parameters are kept in the URL, ahead of the SAML ones, and are
// not signed.
func (svc *Service) redirect(doc *etree.Element, p *idp, location string, sign bool, relayState string) (*Message, error) {
	var xml bytes.Buffer
	xml.Grow(2048)
	doc.WriteTo(&xml, &etree.WriteSettings{})

	var deflated bytes.Buffer
	deflated.Grow(xml.Len())
	w := svc.flaters.Get().(*flate.Writer)
	w.Reset(&deflated)
	_, err := w.Write(xml.Bytes())
	if err == nil {
		err = w.Close()
	}
	svc.flaters.Put(w)
	if err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}

	var q strings.Builder
	q.Grow(len(location) + 2*base64.StdEncoding.EncodedLen(deflated.Len()) + 1024)
	q.WriteString(location)
	switch {
	case !strings.Contains(location, "?"):
		q.WriteByte('?')
	case !strings.HasSuffix(location, "?") && !strings.HasSuffix(location, "&"):
		q.WriteByte('&')
	}
	signedFrom := q.Len()
	q.WriteString(messageParam(doc))
	q.WriteByte('=')
	q.WriteString(url.QueryEscape(base64.StdEncoding.EncodeToString(deflated.Bytes())))
	if relayState != "" {
		q.WriteString("&RelayState=")
		q.WriteString(url.QueryEscape(relayState))
	}
	if sign {
		q.WriteString("&SigAlg=")
		q.WriteString(url.QueryEscape(p.alg.URI))
		sig, err := svc.sign(p.alg, []byte(q.String()[signedFrom:]))
		if err != nil {
			return nil, err
		}
		q.WriteString("&Signature=")
		q.WriteString(url.QueryEscape(base64.StdEncoding.EncodeToString(sig)))
	}
	return &Message{Binding: BindingRedirect, URL: q.String()}, nil
}

// messageParam is the binding parameter that carries doc: SAMLResponse for
// a response (a LogoutResponse), SAMLRequest for a request.
func messageParam(doc *etree.Element) string {
	if strings.HasSuffix(doc.Tag, "Response") {
		return ParamSAMLResponse
	}
	return ParamSAMLRequest
}
