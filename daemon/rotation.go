package daemon

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/store"
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
	switch {
	case errors.Is(err, lifecycle.ErrLocked):
		// Another replica took the lock: this run is its, not a failure.
		d.metrics.rotationSkipped.WithLabelValues(string(use), "other_replica").Inc()
		d.log.Info("rotation skipped: another replica is running it", "use", use)
	case err != nil:
		d.alertRotationFailed(ctx, use, err)
	}
	return steps, err
}

// scheduledRotate is rotate as the schedule runs it: a run another replica
// took (the lock) is theirs, counted by rotate and not an error to log.
func (d *Daemon) scheduledRotate(ctx context.Context, use keys.Use, force bool) ([]lifecycle.Step, error) {
	steps, err := d.rotate(ctx, use, force)
	if errors.Is(err, lifecycle.ErrLocked) {
		return steps, nil
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

// manualRequest is the body of POST /api/v1/rotations/{use}/publish,
// /promote and /cancel; every field is optional, and so is the body.
type manualRequest struct {
	Record string `json:"record,omitempty"` // publish: an existing record's id or name
	Mode   string `json:"mode,omitempty"`   // publish, encryption: "replace" or "add" (the policy's by default)
	Force  bool   `json:"force,omitempty"`  // promote: even if some IdP has not fetched the metadata since
}

// manualAnswer is what the three manual endpoints answer.
type manualAnswer struct {
	Use    keys.Use `json:"use"`
	Action string   `json:"action"` // published, promoted, cancelled
	Record string   `json:"record_id"`
	Name   string   `json:"name,omitempty"`
}

// apiRotationStep answers POST /api/v1/rotations/{use}/{publish,promote,cancel}:
// one step of the staged rollover by hand (lifecycle.Publish, Promote,
// Cancel), audited with the token's name, then the snapshot is rebuilt. A
// promotion refused because IdPs are behind answers 409 naming them.
func (d *Daemon) apiRotationStep(step string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, _ *Snapshot, actor string) {
		use := keys.Use(r.PathValue("use"))
		if use != keys.UseSigning && use != keys.UseEncryption {
			writeError(w, http.StatusNotFound, "unknown_use", "use must be signing or encryption")
			return
		}
		var req manualRequest
		if !decodeOptionalJSON(w, r, &req) {
			return
		}
		if req.Mode != "" && req.Mode != store.PublishAdd && req.Mode != store.PublishReplace {
			writeError(w, http.StatusBadRequest, "bad_request", "mode must be add or replace")
			return
		}
		ans, err := d.rotateByHand(r.Context(), use, step, actor, req)
		var behind *lifecycle.BehindError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, ans)
		case errors.As(err, &behind):
			writeJSON(w, http.StatusConflict, map[string]any{"error": "idps_behind", "detail": err.Error(), "idps": behind.IdPs})
		case errors.Is(err, lifecycle.ErrLocked), errors.Is(err, lifecycle.ErrNoNext), errors.Is(err, store.ErrExists),
			errors.Is(err, store.ErrInUse):
			writeError(w, http.StatusConflict, "conflict", err.Error())
		case errors.Is(err, store.ErrNotFound):
			writeError(w, http.StatusNotFound, "not_found", err.Error())
		case errors.Is(err, lifecycle.ErrUnfit), errors.Is(err, store.ErrInvalid):
			writeError(w, http.StatusUnprocessableEntity, "invalid", err.Error())
		default:
			d.log.Error("rotation step failed", "use", use, "step", step, "actor", actor, "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "the rotation step failed; see the daemon log")
		}
	}
}

// rotateByHand runs one manual step and rebuilds the snapshot after it.
func (d *Daemon) rotateByHand(ctx context.Context, use keys.Use, step, actor string, req manualRequest) (manualAnswer, error) {
	defer d.recoverJob("rotation " + step)
	cfg := d.snap.Load().Config
	o := lifecycle.ManualOptions{Actor: "api:" + actor, Record: req.Record, Replace: req.Mode == store.PublishReplace,
		Force: req.Force, Now: d.now, Rand: d.opts.Rand, Logger: d.log}
	if req.Mode == store.PublishAdd {
		// An explicit add overrides a policy's replace.
		cfg = withoutReplace(cfg, use)
	}
	ans := manualAnswer{Use: use}
	var err error
	switch step {
	case "publish":
		var rec *store.Record
		if rec, err = lifecycle.Publish(ctx, cfg, d.opts.Store, use, o); err == nil {
			ans.Action, ans.Record, ans.Name = "published", rec.ID, rec.Name
		}
	case "promote":
		ans.Action = "promoted"
		ans.Record, err = lifecycle.Promote(ctx, cfg, d.opts.Store, use, o)
	case "cancel":
		ans.Action = "cancelled"
		ans.Record, err = lifecycle.Cancel(ctx, cfg, d.opts.Store, use, o)
	}
	if err != nil {
		return ans, err
	}
	if rerr := d.Rebuild(ctx, "rotation", nil); rerr != nil {
		d.log.Error("rebuild after rotation step", "use", use, "step", step, "err", rerr)
	}
	return ans, nil
}

// withoutReplace returns cfg with use's publish_mode set to add.
func withoutReplace(cfg *config.Config, use keys.Use) *config.Config {
	if use != keys.UseEncryption || cfg.Rotation.Encryption == nil {
		return cfg
	}
	c, p := *cfg, *cfg.Rotation.Encryption
	p.PublishMode = store.PublishAdd
	c.Rotation.Encryption = &p
	return &c
}

// decodeOptionalJSON is decodeJSON for a body that may be empty.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		code := http.StatusBadRequest
		if _, ok := err.(*http.MaxBytesError); ok {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, "bad_request", "request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decodeJSON(w, r, v)
}
