package sp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// SAML namespaces.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// Limits on request input, so that a hostile caller cannot make the daemon
// build huge messages.
const (
	maxValueLen = 1024 // bytes in one option value
	maxList     = 16   // entries in AuthnContext or SessionIndex
)

// AuthnOptions are the per-request settings of an AuthnRequest; the API
// decodes its JSON body straight into them. Zero values mean the default.
type AuthnOptions struct {
	IdP        string `json:"idp"`
	RelayState string `json:"relay_state,omitempty"`
	// Binding is redirect or post (or the binding URN); empty means the
	// binding of the IdP's SSO endpoint.
	Binding    string `json:"binding,omitempty"`
	ForceAuthn bool   `json:"force_authn,omitempty"`
	IsPassive  bool   `json:"is_passive,omitempty"`
	// ACSIndex asks for AssertionConsumerServiceIndex instead of the
	// default ACS's URL and binding; it must be the index of a configured
	// ACS.
	ACSIndex     *int   `json:"acs_index,omitempty"`
	NameIDFormat string `json:"name_id_format,omitempty"`
	// AllowCreate is NameIDPolicy's AllowCreate; nil means true.
	AllowCreate *bool `json:"allow_create,omitempty"`
	// AuthnContext lists AuthnContextClassRef URIs for
	// RequestedAuthnContext, compared by AuthnContextComparison (exact,
	// minimum, maximum or better; empty means exact).
	AuthnContext           StringList `json:"authn_context,omitempty"`
	AuthnContextComparison string     `json:"authn_context_comparison,omitempty"`
}

// LogoutOptions are the per-request settings of a LogoutRequest.
type LogoutOptions struct {
	IdP             string     `json:"idp"`
	NameID          string     `json:"name_id"`
	NameIDFormat    string     `json:"name_id_format,omitempty"`
	NameQualifier   string     `json:"name_qualifier,omitempty"`
	SPNameQualifier string     `json:"sp_name_qualifier,omitempty"`
	SessionIndex    StringList `json:"session_index,omitempty"`
	// Reason is the LogoutRequest's Reason URI, e.g.
	// urn:oasis:names:tc:SAML:2.0:logout:user.
	Reason       string     `json:"reason,omitempty"`
	NotOnOrAfter *time.Time `json:"not_on_or_after,omitempty"`
	RelayState   string     `json:"relay_state,omitempty"`
	Binding      string     `json:"binding,omitempty"` // empty: the binding of the IdP's SLO endpoint
}

// StringList is a list of strings that also decodes from one JSON string,
// so "session_index": "s1" and "session_index": ["s1", "s2"] both work.
type StringList []string

// UnmarshalJSON accepts a string, an array of strings, or null.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = StringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a string or an array of strings: %w", err)
	}
	*l = list
	return nil
}

// Message is what the browser is sent: for the redirect binding the URL to
// redirect to; for the POST binding the form's action and fields and a
// ready HTML page that submits them, with the Content-Security-Policy to
// serve that page under.
type Message struct {
	ID      string `json:"id"`
	Binding string `json:"binding"` // redirect or post

	URL string `json:"url,omitempty"` // redirect

	Action string            `json:"action,omitempty"` // post
	Fields map[string]string `json:"fields,omitempty"` // post: SAMLRequest, RelayState
	HTML   string            `json:"html,omitempty"`   // post: the auto-submitting form page
	// CSP is the Content-Security-Policy header value for HTML: it allows
	// only the page's one inline script, by its SHA-256 hash, and form
	// submission only to the IdP's origin.
	CSP string `json:"csp,omitempty"`
}

// AuthnRequest builds, and when the IdP's Sign AuthnRequest switch is on
// signs, an AuthnRequest for o.IdP in the chosen binding. Bad input is
// ErrUnknownIdP, ErrBadBinding or ErrBadRequest.
func (svc *Service) AuthnRequest(o AuthnOptions) (*Message, error) {
	p, ok := svc.idps[o.IdP]
	if !ok {
		return nil, fmt.Errorf("authn request: %w %q", ErrUnknownIdP, o.IdP)
	}
	binding, err := requestBinding(o.Binding, p.sso.binding)
	if err != nil {
		return nil, fmt.Errorf("authn request idp %q: %w", o.IdP, err)
	}
	if err := checkRelayState(o.RelayState); err != nil {
		return nil, fmt.Errorf("authn request idp %q: %w", o.IdP, err)
	}
	id, err := svc.newID()
	if err != nil {
		return nil, fmt.Errorf("authn request idp %q: %w", o.IdP, err)
	}
	doc, err := svc.authnXML(o, id, p)
	if err != nil {
		return nil, fmt.Errorf("authn request idp %q: %w", o.IdP, err)
	}
	return svc.encode(doc, id, binding, p, p.sso, p.formOrigin, p.signAuthn, o.RelayState)
}

// LogoutRequest builds, and when the IdP's Sign LogoutRequest switch is on
// signs, a LogoutRequest for o.IdP's SLO endpoint in the chosen binding.
func (svc *Service) LogoutRequest(o LogoutOptions) (*Message, error) {
	p, ok := svc.idps[o.IdP]
	if !ok {
		return nil, fmt.Errorf("logout request: %w %q", ErrUnknownIdP, o.IdP)
	}
	if p.slo.location == "" {
		return nil, fmt.Errorf("logout request idp %q: %w: the idp has no slo endpoint configured", o.IdP, ErrBadRequest)
	}
	binding, err := requestBinding(o.Binding, p.slo.binding)
	if err != nil {
		return nil, fmt.Errorf("logout request idp %q: %w", o.IdP, err)
	}
	if err := checkRelayState(o.RelayState); err != nil {
		return nil, fmt.Errorf("logout request idp %q: %w", o.IdP, err)
	}
	id, err := svc.newID()
	if err != nil {
		return nil, fmt.Errorf("logout request idp %q: %w", o.IdP, err)
	}
	doc, err := svc.logoutXML(o, id, p)
	if err != nil {
		return nil, fmt.Errorf("logout request idp %q: %w", o.IdP, err)
	}
	return svc.encode(doc, id, binding, p, p.slo, p.sloOrigin, p.signLogout, o.RelayState)
}

func (svc *Service) encode(doc *etree.Element, id, binding string, p *idp, ep endpoint, origin string, sign bool, relayState string) (*Message, error) {
	if sign && p.alg.Deprecated {
		svc.log.Warn("signing with a deprecated algorithm", "idp", p.name, "algorithm", p.alg.URI)
		if svc.onDeprecated != nil {
			svc.onDeprecated(p.name, p.alg.URI)
		}
	}
	var (
		m   *Message
		err error
	)
	if binding == BindingRedirect {
		m, err = svc.redirect(doc, p, ep.location, sign, relayState)
	} else {
		m, err = svc.post(doc, p, ep.location, origin, sign, relayState)
	}
	if err != nil {
		return nil, fmt.Errorf("%s idp %q: %w", doc.Tag, p.name, err)
	}
	m.ID = id
	return m, nil
}

func requestBinding(asked, endpointBinding string) (string, error) {
	if asked == "" {
		return endpointBinding, nil
	}
	return bindingName(asked)
}

func checkRelayState(rs string) error {
	if len(rs) > MaxRelayState {
		return fmt.Errorf("%w: relay_state is %d bytes, the SAML bindings allow at most %d", ErrBadRequest, len(rs), MaxRelayState)
	}
	if !utf8.ValidString(rs) {
		return fmt.Errorf("%w: relay_state is not valid UTF-8", ErrBadRequest)
	}
	for _, r := range rs {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: relay_state contains control character %U", ErrBadRequest, r)
		}
	}
	return nil
}

// checkValue refuses option values XML cannot carry or that are too long.
func checkValue(field, v string) error {
	if len(v) > maxValueLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d are accepted", ErrBadRequest, field, len(v), maxValueLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrBadRequest, field)
	}
	for _, r := range v {
		if !xmlChar(r) {
			return fmt.Errorf("%w: %s contains %U, which XML cannot carry", ErrBadRequest, field, r)
		}
	}
	return nil
}

// xmlChar reports whether r is a Char of XML 1.0 (production 2) that a
// SAML value may carry. Tab, CR and LF are refused too: a parser
// normalises them in attribute values and line ends, which would break the
// enveloped signature's digest.
func xmlChar(r rune) bool {
	switch {
	case r < 0x20 || r == 0x7f:
		return false
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return false
	}
	return r <= 0x10ffff
}

func checkList(field string, l []string) error {
	if len(l) > maxList {
		return fmt.Errorf("%w: %s has %d entries, at most %d are accepted", ErrBadRequest, field, len(l), maxList)
	}
	for i, v := range l {
		if v == "" {
			return fmt.Errorf("%w: %s[%d] is empty", ErrBadRequest, field, i)
		}
		if err := checkValue(fmt.Sprintf("%s[%d]", field, i), v); err != nil {
			return err
		}
	}
	return nil
}

// newID returns "_" and 20 random bytes in hex: an unguessable xs:ID.
func (svc *Service) newID() (string, error) {
	var b [20]byte
	r := svc.rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("make message id: %w", err)
	}
	return "_" + hex.EncodeToString(b[:]), nil
}

func (svc *Service) issueInstant() string {
	return svc.now().UTC().Format("2006-01-02T15:04:05Z")
}

func newRequest(tag, id, instant, destination, issuer string) *etree.Element {
	el := etree.NewElement("samlp:" + tag)
	el.CreateAttr("xmlns:samlp", nsProtocol)
	el.CreateAttr("xmlns:saml", nsAssertion)
	el.CreateAttr("ID", id)
	el.CreateAttr("Version", "2.0")
	el.CreateAttr("IssueInstant", instant)
	el.CreateAttr("Destination", destination)
	el.CreateElement("saml:Issuer").SetText(issuer)
	return el
}

func (svc *Service) authnXML(o AuthnOptions, id string, p *idp) (*etree.Element, error) {
	if err := checkValue("name_id_format", o.NameIDFormat); err != nil {
		return nil, err
	}
	if err := checkList("authn_context", o.AuthnContext); err != nil {
		return nil, err
	}
	comparison := o.AuthnContextComparison
	switch comparison {
	case "", "exact", "minimum", "maximum", "better":
	default:
		return nil, fmt.Errorf("%w: authn_context_comparison %q: use exact, minimum, maximum or better", ErrBadRequest, comparison)
	}
	if comparison != "" && len(o.AuthnContext) == 0 {
		return nil, fmt.Errorf("%w: authn_context_comparison needs authn_context", ErrBadRequest)
	}

	el := newRequest("AuthnRequest", id, svc.issueInstant(), p.sso.location, svc.entityID)
	switch {
	case o.ACSIndex != nil:
		found := false
		for _, a := range svc.acs {
			found = found || a.Index == *o.ACSIndex
		}
		if !found {
			return nil, fmt.Errorf("%w: acs_index %d is not the index of a configured acs", ErrBadRequest, *o.ACSIndex)
		}
		el.CreateAttr("AssertionConsumerServiceIndex", strconv.Itoa(*o.ACSIndex))
	case svc.defaultACS != nil:
		el.CreateAttr("AssertionConsumerServiceURL", svc.defaultACS.Location)
		el.CreateAttr("ProtocolBinding", bindingURN(svc.defaultACS.Binding))
	}
	if o.ForceAuthn {
		el.CreateAttr("ForceAuthn", "true")
	}
	if o.IsPassive {
		el.CreateAttr("IsPassive", "true")
	}
	// Schema order after Issuer (and Signature): NameIDPolicy, then
	// RequestedAuthnContext.
	policy := el.CreateElement("samlp:NameIDPolicy")
	if o.NameIDFormat != "" {
		policy.CreateAttr("Format", o.NameIDFormat)
	}
	policy.CreateAttr("AllowCreate", strconv.FormatBool(o.AllowCreate == nil || *o.AllowCreate))
	if len(o.AuthnContext) > 0 {
		if comparison == "" {
			comparison = "exact"
		}
		rac := el.CreateElement("samlp:RequestedAuthnContext")
		rac.CreateAttr("Comparison", comparison)
		for _, ref := range o.AuthnContext {
			rac.CreateElement("saml:AuthnContextClassRef").SetText(ref)
		}
	}
	return el, nil
}

func (svc *Service) logoutXML(o LogoutOptions, id string, p *idp) (*etree.Element, error) {
	if o.NameID == "" {
		return nil, fmt.Errorf("%w: name_id is required", ErrBadRequest)
	}
	for _, f := range []struct{ name, v string }{
		{"name_id", o.NameID}, {"name_id_format", o.NameIDFormat}, {"name_qualifier", o.NameQualifier},
		{"sp_name_qualifier", o.SPNameQualifier}, {"reason", o.Reason},
	} {
		if err := checkValue(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if err := checkList("session_index", o.SessionIndex); err != nil {
		return nil, err
	}
	el := newRequest("LogoutRequest", id, svc.issueInstant(), p.slo.location, svc.entityID)
	if o.Reason != "" {
		el.CreateAttr("Reason", o.Reason)
	}
	if o.NotOnOrAfter != nil {
		el.CreateAttr("NotOnOrAfter", o.NotOnOrAfter.UTC().Format("2006-01-02T15:04:05Z"))
	}
	nameID := el.CreateElement("saml:NameID")
	if o.NameQualifier != "" {
		nameID.CreateAttr("NameQualifier", o.NameQualifier)
	}
	if o.SPNameQualifier != "" {
		nameID.CreateAttr("SPNameQualifier", o.SPNameQualifier)
	}
	if o.NameIDFormat != "" {
		nameID.CreateAttr("Format", o.NameIDFormat)
	}
	nameID.SetText(o.NameID)
	for _, s := range o.SessionIndex {
		el.CreateElement("samlp:SessionIndex").SetText(s)
	}
	return el, nil
}
