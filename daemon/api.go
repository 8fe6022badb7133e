package daemon

import (
	"errors"
	"net/http"

	"samlkeyd/sp"
)

// apiAuthnRequest answers POST /api/v1/authn-requests with a signed (when the
// IdP's Sign AuthnRequest is on) AuthnRequest ready for the browser.
func (d *Daemon) apiAuthnRequest(w http.ResponseWriter, r *http.Request, actor string) {
	var o sp.AuthnOptions
	if !decodeJSON(w, r, &o) {
		return
	}
	snap := d.snap.Load()
	msg, err := snap.SP.AuthnRequest(o)
	d.answerMessage(w, r, actor, "authn-request", msg, err)
}

// apiLogoutRequest answers POST /api/v1/logout-requests.
func (d *Daemon) apiLogoutRequest(w http.ResponseWriter, r *http.Request, actor string) {
	var o sp.LogoutOptions
	if !decodeJSON(w, r, &o) {
		return
	}
	snap := d.snap.Load()
	msg, err := snap.SP.LogoutRequest(o)
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
