package daemon

import (
	"net/http"
	"net/url"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// logoutRoutes are the single logout routes of /api/v1: the SP's
// LogoutResponse, and verifying what an IdP sent to the SLO endpoint.
func (d *Daemon) logoutRoutes() []apiRoute {
	return []apiRoute{
		{"POST /api/v1/logout-responses", ScopeSign, d.apiLogoutResponse},
		{"POST /api/v1/logout-messages", ScopeSign, d.apiLogoutMessage},
	}
}

// sloURLs are the SP's single logout locations and response locations: the
// accepted Destinations of the IdPs' logout messages.
func sloURLs(slo []config.Endpoint) []string {
	var out []string
	for _, e := range slo {
		out = append(out, e.Location)
		if e.ResponseLocation != "" {
			out = append(out, e.ResponseLocation)
		}
	}
	return out
}

// apiLogoutResponse answers POST /api/v1/logout-responses with a (signed,
// per the IdP's sign_logout_response) LogoutResponse ready for the browser.
func (d *Daemon) apiLogoutResponse(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	var o sp.LogoutResponseOptions
	if !decodeJSON(w, r, &o) || !d.idpUsable(w, snap, o.IdP) {
		return
	}
	msg, err := snap.SP.LogoutResponse(o)
	msg, err = d.signFederated(r.Context(), snap, o.IdP, msg, err, func(s *sp.Service, idp string) (*sp.Message, error) { o.IdP = idp; return s.LogoutResponse(o) })
	d.answerMessage(w, r, actor, "logout-response", msg, err)
}

// logoutMessageRequest is the body of POST /api/v1/logout-messages: the
// raw query of a redirect, or the fields of a POST.
type logoutMessageRequest struct {
	IdP          string  `json:"idp"`
	Binding      string  `json:"binding"`
	Query        string  `json:"query,omitempty"`
	SAMLRequest  string  `json:"saml_request,omitempty"`
	SAMLResponse string  `json:"saml_response,omitempty"`
	RelayState   *string `json:"relay_state,omitempty"`
	RequestID    string  `json:"request_id,omitempty"`
}

// input is the binding's delivery the body describes.
func (b logoutMessageRequest) input() (sp.LogoutInput, string) {
	switch b.Binding {
	case sp.BindingRedirect:
		if b.Query == "" || b.SAMLRequest != "" || b.SAMLResponse != "" || b.RelayState != nil {
			return sp.LogoutInput{}, "binding redirect takes query alone: the raw query string as received"
		}
		return sp.LogoutInput{Binding: sp.BindingRedirect, Query: b.Query}, ""
	case sp.BindingPOST:
		if b.Query != "" || (b.SAMLRequest == "") == (b.SAMLResponse == "") {
			return sp.LogoutInput{}, "binding post takes saml_request or saml_response (base64, as posted) and relay_state"
		}
		form := url.Values{}
		if b.SAMLRequest != "" {
			form.Set(sp.ParamSAMLRequest, b.SAMLRequest)
		} else {
			form.Set(sp.ParamSAMLResponse, b.SAMLResponse)
		}
		if b.RelayState != nil {
			form.Set(sp.ParamRelayState, *b.RelayState)
		}
		return sp.LogoutInput{Binding: sp.BindingPOST, Form: form}, ""
	}
	return sp.LogoutInput{}, "binding must be redirect or post"
}

// apiLogoutMessage answers POST /api/v1/logout-messages: a LogoutRequest
// or LogoutResponse the IdP sent, verified (sp.ResponseValidator.VerifyLogout);
// 422 {error: <failed check>, detail} otherwise. The detail names the check
// only; the log has the rest at debug level.
func (d *Daemon) apiLogoutMessage(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	var req logoutMessageRequest
	if !decodeJSON(w, r, &req) || !d.idpUsable(w, snap, req.IdP) {
		return
	}
	in, bad := req.input()
	if bad != "" {
		writeError(w, http.StatusBadRequest, "bad_request", bad)
		return
	}
	m, err := snap.Responses.VerifyLogout(r.Context(), req.IdP, in, req.RequestID)
	if me, ok := sp.IsMessageRefusal(err); ok && me.Check == sp.CheckUnknownIdP {
		// An entity id of an idp_sources federation, as responses accept.
		if v, name, ok := d.fedValidator(r.Context(), snap, req.IdP); ok {
			m, err = v.VerifyLogout(r.Context(), name, in, req.RequestID)
		}
	}
	me, refused := sp.IsMessageRefusal(err)
	switch {
	case err == nil:
		d.log.Info("logout message verified", "idp", req.IdP, "actor", actor, "kind", m.Kind, "id", m.ID, "signed", m.Signed)
		writeJSON(w, http.StatusOK, m)
	case refused && me.Check == sp.CheckUnknownIdP:
		writeError(w, http.StatusNotFound, me.Check, unknownIdPDetail(snap.Config, req.IdP))
	case refused:
		d.log.Warn("logout message refused", "idp", req.IdP, "actor", actor, "check", me.Check)
		d.log.Debug("logout message refused", "idp", req.IdP, "actor", actor, "err", err)
		writeError(w, http.StatusUnprocessableEntity, me.Check, logoutCheckDetail(me.Check))
	default:
		d.log.Error("verify logout message", "idp", req.IdP, "actor", actor, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the logout message could not be verified; see the daemon log")
	}
}

// logoutCheckDetail says which check refused a logout message, and nothing
// of the crypto or parser underneath.
func logoutCheckDetail(check string) string {
	switch check {
	case sp.CheckMalformed:
		return "the message is not a well-formed logout message in that binding, or is over a size or structure limit"
	case sp.CheckSignature:
		return "the signature is missing, uses an algorithm not accepted from this idp, or does not verify with its signing certificates"
	case sp.CheckIssuer:
		return "Issuer is not the idp's entity id"
	case sp.CheckDestination:
		return "Destination is not one of the SP's single logout locations (sp.slo)"
	case sp.CheckExpired:
		return "IssueInstant is older than the clock skew allows, or NotOnOrAfter has passed"
	case sp.CheckNotYetValid:
		return "IssueInstant is later than the clock skew allows"
	case sp.CheckInResponseTo:
		return "InResponseTo is not the request_id given"
	case sp.CheckReplay:
		return "a message with this ID from this idp was already received"
	case sp.CheckStatus:
		return "the LogoutResponse has no StatusCode"
	case sp.CheckSubject:
		return "the LogoutRequest has no NameID"
	case sp.CheckDecrypt:
		return "the EncryptedID does not decrypt with the SP's encryption keys"
	}
	return "the logout message was refused"
}
