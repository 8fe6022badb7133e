package daemon

import (
	"context"
	"errors"
	"net/http"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
)

// rotate runs lifecycle.Rotate for a use (under its lock: one replica at a
// time), rebuilds the snapshot when a step was taken, and alerts on failure.
func (d *Daemon) rotate(ctx context.Context, use keys.Use, force bool) ([]lifecycle.Step, error) {
	defer d.recoverJob("rotation")
	cfg := d.snap.Load().Config
	steps, err := lifecycle.Rotate(ctx, cfg, d.opts.Store, use,
		lifecycle.Options{Force: force, Now: d.now, Rand: d.opts.Rand, Logger: d.log})
	if len(steps) > 0 {
		if rerr := d.Rebuild(ctx, "rotation", nil); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		d.alertRotationFailed(ctx, use, err)
	}
	return steps, err
}

// rotationRequest is the body of POST /api/v1/rotations.
type rotationRequest struct {
	Use string `json:"use"`
	Now bool   `json:"now,omitempty"`
}

// apiRotate answers POST /api/v1/rotations: run the use's rollover now
// (with now: true, publish and promote a new key at once).
func (d *Daemon) apiRotate(w http.ResponseWriter, r *http.Request, actor string) {
	var req rotationRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	use := keys.Use(req.Use)
	if use != keys.UseSigning && use != keys.UseEncryption {
		writeError(w, http.StatusBadRequest, "bad_request", "use must be signing or encryption")
		return
	}
	d.log.Info("rotation requested", "use", use, "now", req.Now, "actor", actor)
	steps, err := d.rotate(r.Context(), use, req.Now)
	if err != nil {
		writeError(w, http.StatusConflict, "rotation_failed", err.Error())
		return
	}
	if steps == nil {
		steps = []lifecycle.Step{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"use": use, "steps": steps})
}

// apiRotationStatus answers GET /api/v1/rotations: lifecycle.Status, each
// use's keys, when the next steps are due, and which IdPs have fetched the
// next key.
func (d *Daemon) apiRotationStatus(w http.ResponseWriter, r *http.Request, snap *Snapshot, _ string) {
	st, err := lifecycle.ReadStatus(r.Context(), snap.Config, d.opts.Store, d.now())
	if err != nil {
		d.log.Error("rotation status", "err", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "the rotation state could not be read")
		return
	}
	writeJSON(w, http.StatusOK, st)
}
