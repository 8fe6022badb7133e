package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// apiHandler answers one /api/v1 route from the snapshot the request's
// middleware loaded (one request, one snapshot), for the authenticated
// token's name (actor).
type apiHandler func(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string)

// apiRoute is one /api/v1 route and the scope its token needs.
type apiRoute struct {
	pattern, scope string
	h              apiHandler
}

// apiRoutes lists the /api/v1 routes.
func (d *Daemon) apiRoutes() []apiRoute {
	return []apiRoute{
		{"POST /api/v1/authn-requests", ScopeSign, d.apiAuthnRequest},
		{"POST /api/v1/logout-requests", ScopeSign, d.apiLogoutRequest},
		{"POST /api/v1/responses", ScopeSign, d.apiResponse},
		// The rotation procedure reads the config it rotates under the
		// store's lock (rotation.go), not the request's snapshot.
		{"POST /api/v1/rotations", ScopeAdmin, func(w http.ResponseWriter, r *http.Request, _ *Snapshot, actor string) {
			d.apiRotate(w, r, actor)
		}},
		{"GET /api/v1/rotations", ScopeAdmin, d.apiRotationStatus},
		{"POST /api/v1/rotations/{use}/publish", ScopeAdmin, d.apiRotationStep("publish")},
		{"POST /api/v1/rotations/{use}/promote", ScopeAdmin, d.apiRotationStep("promote")},
		{"POST /api/v1/rotations/{use}/cancel", ScopeAdmin, d.apiRotationStep("cancel")},
		{"GET /api/v1/checks", ScopeAdmin, d.apiChecks},
		{"POST /api/v1/checks/{name}/run", ScopeAdmin, d.apiRunCheck},
		{"GET /api/v1/status", ScopeAdmin, d.apiStatus},
	}
}

// apiAuthnRequest answers POST /api/v1/authn-requests with a signed (when the
// IdP's Sign AuthnRequest is on) AuthnRequest ready for the browser.
func (d *Daemon) apiAuthnRequest(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	var o sp.AuthnOptions
	if !decodeJSON(w, r, &o) || !d.idpUsable(w, snap, o.IdP) {
		return
	}
	msg, err := snap.SP.AuthnRequest(o)
	msg, err = d.signFederated(r.Context(), snap, o.IdP, msg, err, func(s *sp.Service, idp string) (*sp.Message, error) { o.IdP = idp; return s.AuthnRequest(o) })
	d.answerMessage(w, r, actor, "authn-request", msg, err)
}

// apiLogoutRequest answers POST /api/v1/logout-requests.
func (d *Daemon) apiLogoutRequest(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	var o sp.LogoutOptions
	if !decodeJSON(w, r, &o) || !d.idpUsable(w, snap, o.IdP) {
		return
	}
	msg, err := snap.SP.LogoutRequest(o)
	msg, err = d.signFederated(r.Context(), snap, o.IdP, msg, err, func(s *sp.Service, idp string) (*sp.Message, error) { o.IdP = idp; return s.LogoutRequest(o) })
	d.answerMessage(w, r, actor, "logout-request", msg, err)
}

func (d *Daemon) answerMessage(w http.ResponseWriter, r *http.Request, actor, kind string, msg *sp.Message, err error) {
	switch {
	case err == nil:
		d.log.Debug("signed request", "kind", kind, "actor", actor, "id", msg.ID, "binding", msg.Binding)
		writeJSON(w, http.StatusOK, msg)
	case errors.Is(err, sp.ErrUnknownIdP):
		writeError(w, http.StatusNotFound, "unknown_idp", err.Error())
	case errors.Is(err, sp.ErrBadBinding), errors.Is(err, sp.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		d.log.Error("sign request failed", "kind", kind, "actor", actor, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "signing failed; see the daemon log")
	}
}

// apiChecks answers GET /api/v1/checks: every scheduled mTLS check with its
// next run and last result.
func (d *Daemon) apiChecks(w http.ResponseWriter, _ *http.Request, _ *Snapshot, _ string) {
	writeJSON(w, http.StatusOK, map[string]any{"checks": d.checks.List()})
}

// apiRunCheck answers POST /api/v1/checks/{name}/run: the check runs now and
// the answer is its result (200 whether or not the check passed).
func (d *Daemon) apiRunCheck(w http.ResponseWriter, r *http.Request, _ *Snapshot, actor string) {
	name := r.PathValue("name")
	res, err := d.checks.RunNow(r.Context(), name)
	switch {
	case errors.Is(err, mtls.ErrUnknownCheck):
		writeError(w, http.StatusNotFound, "unknown_check", err.Error())
	case err != nil:
		d.log.Error("run check", "check", name, "actor", actor, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the check could not run; see the daemon log")
	default:
		d.log.Info("check run by API", "check", name, "actor", actor, "ok", res.OK)
		writeJSON(w, http.StatusOK, res)
	}
}

// responseRequest is the body of POST /api/v1/responses.
type responseRequest struct {
	IdP          string `json:"idp"`
	SAMLResponse string `json:"saml_response"`
	RequestID    string `json:"request_id,omitempty"`
}

// apiResponse answers POST /api/v1/responses: the SAMLResponse (base64 as
// posted to the ACS) decrypted with the snapshot's encryption keys and
// validated for the IdP; 4xx {error: <failed check>, detail} otherwise.
func (d *Daemon) apiResponse(w http.ResponseWriter, r *http.Request, snap *Snapshot, actor string) {
	var req responseRequest
	if !decodeJSON(w, r, &req) || !d.idpUsable(w, snap, req.IdP) {
		return
	}
	a, err := snap.Responses.Verify(r.Context(), req.IdP, req.SAMLResponse, req.RequestID)
	a, err = d.verifyFederated(r.Context(), snap, req, a, err)
	var re *sp.ResponseError
	if errors.As(err, &re) {
		d.responseRefused(context.WithoutCancel(r.Context()), snap.Config, req.IdP, re)
	}
	switch {
	case err == nil:
		d.log.Info("response verified", "idp", req.IdP, "actor", actor, "issuer", a.Issuer)
		writeJSON(w, http.StatusOK, a)
	case errors.As(err, &re) && re.Check == sp.CheckUnknownIdP:
		writeError(w, http.StatusNotFound, re.Check, unknownIdPDetail(snap.Config, req.IdP))
	case errors.As(err, &re):
		d.log.Warn("response refused", "idp", req.IdP, "actor", actor, "check", re.Check, "err", err)
		writeError(w, http.StatusUnprocessableEntity, re.Check, re.Err.Error())
	case errors.Is(err, store.ErrUnavailable): // the shared replay ids could not be checked: fail closed
		d.log.Error("verify response: store unavailable", "idp", req.IdP, "actor", actor, "err", err)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the replay check could not reach the store; retry later")
	default:
		d.log.Error("verify response", "idp", req.IdP, "actor", actor, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "the response could not be verified; see the daemon log")
	}
}

// unknownIdPDetail says whether the IdP is missing or only lacks signing
// certificates.
func unknownIdPDetail(cfg *config.Config, name string) string {
	for _, p := range cfg.IdPs {
		if p.Name == name {
			return fmt.Sprintf("idp %q has no signing certificate to verify responses with (set signing_certs or metadata_file)", name)
		}
	}
	return fmt.Sprintf("no idp record %q", name)
}

// idpUsable answers 503 idp_unavailable, naming the reason, for an IdP
// whose component failed or whose metadata expired (checked against the
// clock at each request, not only at builds), and reports whether the
// request may go on.
func (d *Daemon) idpUsable(w http.ResponseWriter, snap *Snapshot, idp string) bool {
	err := snap.IdPUnavailable(idp, d.now())
	if err == nil {
		return true
	}
	d.log.Warn("request for an unavailable IdP refused", "idp", idp, "err", err)
	writeError(w, http.StatusServiceUnavailable, "idp_unavailable", err.Error())
	return false
}
