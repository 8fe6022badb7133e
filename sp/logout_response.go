package sp

import (
	"fmt"

	"github.com/beevik/etree"
)

// The status codes of a LogoutResponse (SAML core 3.2.2.2). PartialLogout
// is a second-level code, sent under a top-level Success.
const (
	StatusSuccess       = "urn:oasis:names:tc:SAML:2.0:status:Success"
	StatusRequester     = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	StatusResponder     = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	StatusPartialLogout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
)

// The short names of LogoutResponse statuses that requests take and
// verified messages report.
const (
	LogoutSuccess   = "success"
	LogoutPartial   = "partial"
	LogoutRequester = "requester"
	LogoutResponder = "responder"
)

// LogoutResponseOptions are the per-request settings of a LogoutResponse,
// the SP's answer to a LogoutRequest the IdP sent.
type LogoutResponseOptions struct {
	IdP string `json:"idp"`
	// InResponseTo is the ID of the IdP's LogoutRequest (required).
	InResponseTo string `json:"in_response_to"`
	// Status is success (the default), partial (Success with the
	// second-level PartialLogout), requester or responder.
	Status     string `json:"status,omitempty"`
	RelayState string `json:"relay_state,omitempty"`
	Binding    string `json:"binding,omitempty"` // empty: the binding of the IdP's SLO endpoint
}

// LogoutResponse builds, and when the IdP's Sign LogoutResponse switch is
// on (sign_logout_response, by default sign_logout_request) signs, a
// LogoutResponse to o.IdP's SLO endpoint: its response_location when
// configured, else its location. Bad input is ErrUnknownIdP, ErrBadBinding
// or ErrBadRequest.
func (svc *Service) LogoutResponse(o LogoutResponseOptions) (*Message, error) {
	p, ok := svc.idps[o.IdP]
	if !ok {
		return nil, fmt.Errorf("logout response: %w %q", ErrUnknownIdP, o.IdP)
	}
	if p.slo.location == "" {
		return nil, fmt.Errorf("logout response idp %q: %w: the idp has no slo endpoint configured", o.IdP, ErrBadRequest)
	}
	binding, err := requestBinding(o.Binding, p.slo.binding)
	if err != nil {
		return nil, fmt.Errorf("logout response idp %q: %w", o.IdP, err)
	}
	if err := checkRelayState(o.RelayState); err != nil {
		return nil, fmt.Errorf("logout response idp %q: %w", o.IdP, err)
	}
	top, second, err := logoutStatus(o.Status)
	if err != nil {
		return nil, fmt.Errorf("logout response idp %q: %w", o.IdP, err)
	}
	if o.InResponseTo == "" {
		return nil, fmt.Errorf("logout response idp %q: %w: in_response_to is required (the ID of the idp's LogoutRequest)", o.IdP, ErrBadRequest)
	}
	if err := checkValue("in_response_to", o.InResponseTo); err != nil {
		return nil, fmt.Errorf("logout response idp %q: %w", o.IdP, err)
	}
	id, err := svc.newID()
	if err != nil {
		return nil, fmt.Errorf("logout response idp %q: %w", o.IdP, err)
	}
	ep := endpoint{binding: p.slo.binding, location: p.slo.responseDestination()}
	origin := p.sloOrigin
	if p.sloRespOrigin != "" {
		origin = p.sloRespOrigin
	}
	el := newRequest("LogoutResponse", id, svc.issueInstant(), ep.location, svc.entityID)
	el.CreateAttr("InResponseTo", o.InResponseTo)
	sc := el.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	sc.CreateAttr("Value", top)
	if second != "" {
		sc.CreateElement("samlp:StatusCode").CreateAttr("Value", second)
	}
	return svc.encode(el, id, binding, p, ep, origin, p.signLogoutResp, o.RelayState)
}

// logoutStatus maps a status short name to its top-level and second-level
// codes.
func logoutStatus(s string) (top, second string, err error) {
	switch s {
	case "", LogoutSuccess:
		return StatusSuccess, "", nil
	case LogoutPartial:
		return StatusSuccess, StatusPartialLogout, nil
	case LogoutRequester:
		return StatusRequester, "", nil
	case LogoutResponder:
		return StatusResponder, "", nil
	}
	return "", "", fmt.Errorf("%w: status %q: use success, partial, requester or responder", ErrBadRequest, s)
}

// logoutStatusName is the short name of a LogoutResponse's status codes,
// or the top-level code's URI when no short name fits.
func logoutStatusName(top, second string) string {
	switch {
	case top == StatusSuccess && second == StatusPartialLogout:
		return LogoutPartial
	case top == StatusSuccess:
		return LogoutSuccess
	case top == StatusRequester:
		return LogoutRequester
	case top == StatusResponder:
		return LogoutResponder
	}
	return top
}

// statusCodes returns a response's top-level and second-level StatusCode
// values.
func statusCodes(root *etree.Element) (top, second string) {
	sc := childNS(childNS(root, nsSAMLP, "Status"), nsSAMLP, "StatusCode")
	if sc == nil {
		return "", ""
	}
	if sub := childNS(sc, nsSAMLP, "StatusCode"); sub != nil {
		second = sub.SelectAttrValue("Value", "")
	}
	return sc.SelectAttrValue("Value", ""), second
}
