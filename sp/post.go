package sp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"strings"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// formScript is the POST page's only script. The CSP allows it by hash.
const formScript = `document.forms[0].submit();`

// formScriptHash is the CSP source expression of formScript.
func formScriptHash() string {
	sum := sha256.Sum256([]byte(formScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// post encodes doc for the HTTP-POST binding (SAML bindings 3.5): signed
// with an enveloped signature when sign is set, base64, in a form that
// submits itself (as SAMLRequest, or SAMLResponse for a response).
func (svc *Service) post(doc *etree.Element, p *idp, location, origin string, sign bool, relayState string) (*Message, error) {
	if sign {
		if err := svc.signEnveloped(doc, p); err != nil {
			return nil, err
		}
	}
	var xml bytes.Buffer
	xml.Grow(4096)
	doc.WriteTo(&xml, &etree.WriteSettings{})
	param := messageParam(doc)
	fields := map[string]string{param: base64.StdEncoding.EncodeToString(xml.Bytes())}
	if relayState != "" {
		fields["RelayState"] = relayState
	}
	return &Message{
		Binding: BindingPOST,
		Action:  location,
		Fields:  fields,
		HTML:    formHTML(location, param, fields[param], relayState),
		CSP: "default-src 'none'; script-src " + formScriptHash() + "; form-action " + origin +
			"; base-uri 'none'; frame-ancestors 'none'",
	}, nil
}

// formHTML is the auto-submitting page. Every value is HTML-escaped; the
// noscript button submits the form where scripts do not run.
func formHTML(action, param, message, relayState string) string {
	var b strings.Builder
	b.Grow(len(message) + len(action) + 512)
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Continue</title></head>\n<body>\n<form method=\"post\" action=\"")
	b.WriteString(html.EscapeString(action))
	b.WriteString("\">\n<input type=\"hidden\" name=\"")
	b.WriteString(param)
	b.WriteString("\" value=\"")
	b.WriteString(html.EscapeString(message))
	b.WriteString("\">\n")
	if relayState != "" {
		b.WriteString("<input type=\"hidden\" name=\"RelayState\" value=\"")
		b.WriteString(html.EscapeString(relayState))
		b.WriteString("\">\n")
	}
	b.WriteString("<noscript><button type=\"submit\">Continue</button></noscript>\n</form>\n<script>")
	b.WriteString(formScript)
	b.WriteString("</script>\n</body></html>\n")
	return b.String()
}

// signEnveloped signs el with an enveloped XML signature and puts the
// Signature right after Issuer, where the SAML schema wants it. The
// Reference points at the ID, with the enveloped-signature and exclusive
// c14n transforms; canonicalization is goxmldsig's. SignedInfo is built
// here rather than by dsig.SigningContext because that ties the digest
// method to the signature's hash (digest_algorithm is configurable),
// signs ECDSA in ASN.1 DER where XML-DSig wants r||s, and reads
// crypto/rand instead of Settings.Rand.
func (svc *Service) signEnveloped(el *etree.Element, p *idp) error {
	c14n := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	canonical, err := c14n.Canonicalize(el.Copy()) // Canonicalize rewrites its argument
	if err != nil {
		return fmt.Errorf("canonicalize: %w", err)
	}
	h := p.digest.Hash.New()
	h.Write(canonical)

	signedInfo := etree.NewElement("ds:SignedInfo")
	signedInfo.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", string(c14n.Algorithm()))
	signedInfo.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", p.alg.URI)
	ref := signedInfo.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "#"+el.SelectAttrValue("ID", ""))
	transforms := ref.CreateElement("ds:Transforms")
	transforms.CreateElement("ds:Transform").CreateAttr("Algorithm", string(dsig.EnvelopedSignatureAltorithmId))
	transforms.CreateElement("ds:Transform").CreateAttr("Algorithm", string(c14n.Algorithm()))
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", p.digest.URI)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(h.Sum(nil)))

	// Exclusive c14n renders only the namespaces SignedInfo uses: ds,
	// declared on Signature in place, on the detached copy here.
	detached := signedInfo.Copy()
	detached.CreateAttr("xmlns:ds", dsig.Namespace)
	canonicalSI, err := c14n.Canonicalize(detached)
	if err != nil {
		return fmt.Errorf("canonicalize SignedInfo: %w", err)
	}
	value, err := svc.sign(p.alg, canonicalSI)
	if err != nil {
		return err
	}

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", dsig.Namespace)
	sig.AddChild(signedInfo)
	sig.CreateElement("ds:SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(svc.cert))

	issuer := el.SelectElement("saml:Issuer")
	if issuer == nil {
		return fmt.Errorf("sign: %s has no Issuer", el.Tag)
	}
	el.InsertChildAt(issuer.Index()+1, sig)
	return nil
}
