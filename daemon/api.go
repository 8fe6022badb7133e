package daemon

import (
	"errors"
	"net/http"

	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
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

// apiChecks answers GET /api/v1/checks: every scheduled mTLS check with its
// next run and last result.
func (d *Daemon) apiChecks(w http.ResponseWriter, _ *http.Request, _ string) {
	writeJSON(w, http.StatusOK, map[string]any{"checks": d.checks.List()})
}

// apiRunCheck answers POST /api/v1/checks/{name}/run: the check runs now and
// the answer is its result (200 whether or not the check passed).
func (d *Daemon) apiRunCheck(w http.ResponseWriter, r *http.Request, actor string) {
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
