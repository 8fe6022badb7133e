package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// actorRotation is the audit actor of automatic rotation steps.
const actorRotation = "rotation"

// RotationStore is what key rotation needs of the store. *store.Store
// satisfies it.
type RotationStore interface {
	Store
	Record(ctx context.Context, id string) (*store.Record, error)
	MetadataFetches(ctx context.Context) ([]store.MetadataFetch, error)
	PublishNext(ctx context.Context, actor, use string, r store.NewRecord) (*store.Record, error)
	Promote(ctx context.Context, actor, use, id string) error
	Deactivate(ctx context.Context, actor, id string) error
}

var _ RotationStore = (*store.Store)(nil)

// RotateOptions tune one rotation run.
type RotateOptions struct {
	Force  bool             // --now: generate and promote at once, without waiting for publish_for
	Now    func() time.Time // nil = time.Now
	Logger *slog.Logger     // nil = discard
}

// policyFor returns the configured rotation policy of a use, or nil.
func policyFor(cfg *config.Config, use keys.Use) *config.RotationPolicy {
	if use == keys.UseEncryption {
		return cfg.Rotation.Encryption
	}
	return cfg.Rotation.Signing
}

// Rotate runs the rollover of one use until nothing more is due now: it
// publishes a next key when the active one nears expiry, promotes the next
// key once it has been published for publish_for and every IdP that has
// fetched the metadata before has fetched it since and was served the next
// key (or after publish_for plus max_wait regardless), and deactivates
// retired keys after retire_after. Each step is
// one store transaction, so a crash between steps leaves a state the next
// run continues from. It returns the steps taken.
func Rotate(ctx context.Context, cfg *config.Config, st RotationStore, use keys.Use, o RotateOptions) ([]lifecycle.Step, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	pc := policyFor(cfg, use)
	if pc == nil {
		return nil, fmt.Errorf("rotation of the %s key is not configured (rotation.%s in the config)", use, use)
	}
	p, err := lifecycle.PolicyFrom(pc)
	if err != nil {
		return nil, fmt.Errorf("rotation.%s: %w", use, err)
	}
	var steps []lifecycle.Step
	promotedByForce := false
	for range 4 { // generate, promote, deactivate: a run never needs more
		ks, err := rotationKeys(ctx, st, use)
		if err != nil {
			return steps, err
		}
		caughtUp := true
		if n := nextKey(ks); n != nil {
			rec, err := st.Record(ctx, n.ID)
			if err != nil {
				return steps, err
			}
			fetches, err := st.MetadataFetches(ctx)
			if err != nil {
				return steps, err
			}
			var behind []string
			caughtUp, behind = IdPsCaughtUp(fetches, rec, n.PublishedAt)
			if !caughtUp {
				o.Logger.Info("next key waits for IdPs to fetch metadata", "use", use, "key", n.ID, "idps", behind)
			}
		}
		step := lifecycle.Due(ks, now(), p, caughtUp)
		if o.Force && step.Kind == lifecycle.StepNone && !promotedByForce {
			step = forced(ks)
			promotedByForce = step.Kind == lifecycle.StepPromote
		}
		if step.Kind == lifecycle.StepNone {
			return steps, nil
		}
		if err := applyStep(ctx, cfg, st, use, p, step, now()); err != nil {
			return steps, fmt.Errorf("rotate %s key: %s: %w", use, step.Kind, err)
		}
		o.Logger.Info("rotation step", "use", use, "step", step.Kind, "key", step.KeyID, "reason", step.Reason)
		steps = append(steps, step)
	}
	return steps, nil
}

// forced is the step --now takes when nothing is due: publish a next key,
// or promote the one published.
func forced(ks []lifecycle.Key) lifecycle.Step {
	for _, k := range ks {
		if k.State == lifecycle.StateNext {
			return lifecycle.Step{Kind: lifecycle.StepPromote, KeyID: k.ID, Reason: "forced (--now)"}
		}
	}
	return lifecycle.Step{Kind: lifecycle.StepGenerateNext, Reason: "forced (--now)"}
}

// rotationKeys is the lifecycle view of a use's keys: the rotation rows,
// plus the record the property selects as active when it has none (a base
// keystore that was never rotated).
func rotationKeys(ctx context.Context, st RotationStore, use keys.Use) ([]lifecycle.Key, error) {
	prop, _ := store.UseProperty(string(use))
	activeID, _, err := st.Property(ctx, prop)
	if err != nil {
		return nil, err
	}
	rots, err := st.Rotations(ctx, string(use))
	if err != nil {
		return nil, err
	}
	var out []lifecycle.Key
	seenActive := false
	for _, r := range rots {
		rec, err := st.Record(ctx, r.RecordID)
		if err != nil {
			return nil, fmt.Errorf("rotation record %s: %w", r.RecordID, err)
		}
		k := lifecycle.Key{ID: r.RecordID, State: lifecycle.State(r.State), NotAfter: rec.NotAfter,
			PublishedAt: r.PublishedAt, PromotedAt: r.PromotedAt, RetiredAt: r.RetiredAt}
		if r.RecordID == activeID {
			k.State, seenActive = lifecycle.StateActive, true
		} else if k.State == lifecycle.StateActive {
			k.State = lifecycle.StateRetired // the property was moved by hand
		}
		out = append(out, k)
	}
	if !seenActive && activeID != "" {
		rec, err := st.Record(ctx, activeID)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", prop, err)
		}
		out = append(out, lifecycle.Key{ID: activeID, State: lifecycle.StateActive, NotAfter: rec.NotAfter})
	}
	return out, nil
}

func applyStep(ctx context.Context, cfg *config.Config, st RotationStore, use keys.Use, p lifecycle.Policy, step lifecycle.Step, now time.Time) error {
	switch step.Kind {
	case lifecycle.StepGenerateNext:
		if err := checkSelfSigned(ctx, st, use); err != nil {
			return err
		}
		rec, err := generateKeystore(cfg, use, p, now)
		if err != nil {
			return err
		}
		_, err = st.PublishNext(ctx, actorRotation, string(use), rec)
		return err
	case lifecycle.StepPromote:
		return st.Promote(ctx, actorRotation, string(use), step.KeyID)
	case lifecycle.StepDeactivate:
		return st.Deactivate(ctx, actorRotation, step.KeyID)
	}
	return nil
}

// checkSelfSigned refuses to replace a CA-signed keystore: samlkeyd can
// only rotate keys it can certify itself.
func checkSelfSigned(ctx context.Context, st RotationStore, use keys.Use) error {
	prop, _ := store.UseProperty(string(use))
	id, ok, err := st.Property(ctx, prop)
	if err != nil || !ok {
		return err
	}
	rec, err := st.Record(ctx, id)
	if err != nil {
		return err
	}
	ks, err := keys.ParseChains(rec.Data, rec.StorePassword)
	if err != nil {
		return fmt.Errorf("open certificate record %s: %w", id, err)
	}
	var leaf *x509.Certificate
	for _, e := range ks.Entries {
		if e.IsPrivateKey() || e.Sealed {
			leaf = e.Leaf()
		}
	}
	selfSigned := leaf != nil && bytes.Equal(leaf.RawIssuer, leaf.RawSubject) &&
		leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil
	if !selfSigned {
		return fmt.Errorf("certificate record %s (%q) is CA-signed: samlkeyd cannot rotate it by itself; start a renewal with samlkeyd cert renew %s, have your CA sign the CSR, and set %s", id, rec.Name, id, prop)
	}
	return nil
}

// generateKeystore makes the next key of a use: a fresh self-signed key
// pair in a PKCS#12 keystore under a random password.
func generateKeystore(cfg *config.Config, use keys.Use, p lifecycle.Policy, now time.Time) (store.NewRecord, error) {
	host := "samlkeyd"
	if u, err := url.Parse(cfg.SP.EntityID); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	e, err := keys.Generate(keys.GenerateOptions{
		Alias: "saml2sp", KeyAlg: p.KeyAlg, KeySize: p.KeySize, ValidityDays: int(p.Validity / (24 * time.Hour)),
		DName: fmt.Sprintf("CN=%s SAML %s %s,O=samlkeyd", host, use, now.UTC().Format("2006-01-02")),
		Now:   func() time.Time { return now },
	})
	if err != nil {
		return store.NewRecord{}, err
	}
	raw := make([]byte, 24+16)
	if _, err := rand.Read(raw); err != nil {
		return store.NewRecord{}, err
	}
	pw := secret.FromString(base64.RawURLEncoding.EncodeToString(raw[:24]))
	clear(raw[:24])
	id := hex.EncodeToString(raw[24:])
	data, err := (&keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{e}}).Marshal(pw, pw)
	if err != nil {
		return store.NewRecord{}, err
	}
	// Record names are unique: the id's first digits tell apart keys made
	// in the same second.
	return store.NewRecord{
		ID:   id,
		Name: fmt.Sprintf("samlkeyd %s key %s %s", use, now.UTC().Format("2006-01-02T15:04:05Z"), id[:8]),
		Type: store.TypePKCS12, Data: data, Alias: "saml2sp", StorePassword: pw, KeyPassword: pw,
	}, nil
}

// rotate runs Rotate for a use under the store's lock (one replica at a
// time), rebuilds the snapshot when a step was taken, and alerts on failure.
func (d *Daemon) rotate(ctx context.Context, use keys.Use, force bool) ([]lifecycle.Step, error) {
	defer d.recoverJob("rotation")
	st, ok := d.opts.Store.(RotationStore)
	if !ok {
		return nil, fmt.Errorf("rotate %s key: the store cannot rotate keys", use)
	}
	cfg := d.snap.Load().Config
	var steps []lifecycle.Step
	ran, err := st.WithLock(ctx, "rotation:"+string(use), func(ctx context.Context) error {
		var err error
		steps, err = Rotate(ctx, cfg, st, use, RotateOptions{Force: force, Now: d.now, Logger: d.log})
		return err
	})
	if err == nil && !ran {
		err = fmt.Errorf("rotate %s key: another replica is rotating it now", use)
	}
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
