package lifecycle

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

// The audit actor of the steps Rotate takes, and the alias of the keys it
// generates (the base keystores' alias).
const (
	actor        = "rotation"
	rotatedAlias = "saml2sp"
)

// ErrLocked is returned (wrapped) by Rotate when another replica holds the
// use's rotation lock: the run is that replica's this time.
var ErrLocked = errors.New("another replica is rotating it now")

// LockName is the lock a use's rollover runs under, whoever runs it (the
// daemon's schedule, its API, the CLI).
func LockName(use keys.Use) string { return "rotation:" + string(use) }

// Options tune one rotation run. Nil fields take the defaults noted.
type Options struct {
	Force  bool             // --now: publish and promote a new key at once, without waiting for publish_for
	Now    func() time.Time // nil = time.Now
	Rand   io.Reader        // the generated key, its serial and password, the record id; nil = crypto/rand
	Logger *slog.Logger     // nil = discard
}

// Rotate runs the rollover of one use, under the use's lock (LockName),
// until nothing more is due now: it publishes a next key when the active
// one nears expiry, promotes the next key once it has been published for
// publish_for and the IdPs have caught up (CaughtUp), or after publish_for
// plus max_wait regardless, and deactivates retired keys after
// retire_after. Each step is one store transaction, so a run killed between
// steps leaves a state the next run continues from. It returns the steps
// taken, also when a later step failed.
func Rotate(ctx context.Context, cfg *config.Config, st Store, use keys.Use, o Options) ([]Step, error) {
	p, ok, err := PolicyOf(cfg, use)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("rotation of the %s key is not configured (rotation.%s in the config); to roll it over by hand: samlkeyd rotate publish --use %s, then rotate promote", use, use, use)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &rotation{st: st, use: use, p: p, cfg: cfg, o: o}
	var steps []Step
	ran, err := st.WithLock(ctx, LockName(use), func(ctx context.Context) error {
		var err error
		steps, err = r.run(ctx)
		return err
	})
	if err == nil && !ran {
		err = fmt.Errorf("rotate %s key: %w", use, ErrLocked)
	}
	return steps, err
}

// hostOf names generated certificates after the SP: the entity id's host.
func hostOf(entityID string) string {
	if u, err := url.Parse(entityID); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "samlkeyd"
}

// rotation is one Rotate run.
type rotation struct {
	st  Store
	use keys.Use
	p   Policy
	cfg *config.Config // the SP's entity id names generated certificates; pkcs11.module
	o   Options
}

func (r *rotation) run(ctx context.Context) ([]Step, error) {
	if err := reconcile(ctx, r.st, r.use, r.o.Logger); err != nil {
		return nil, err
	}
	var steps []Step
	promotedByForce := false
	for range 4 { // generate, promote, deactivate: a run never needs more
		stored, err := readKeys(ctx, r.st, r.use)
		if err != nil {
			return steps, err
		}
		ks := view(stored)
		caughtUp, err := r.caughtUp(ctx, stored)
		if err != nil {
			return steps, err
		}
		step := Due(ks, r.o.Now(), r.p, caughtUp)
		if r.o.Force && step.Kind == StepNone && !promotedByForce {
			step = forced(ks)
			promotedByForce = step.Kind == StepPromote
		}
		if step.Kind == StepNone {
			return steps, nil
		}
		id, err := r.apply(ctx, stored, step)
		if err != nil {
			return steps, fmt.Errorf("rotate %s key: %s: %w", r.use, step.Kind, err)
		}
		step.KeyID = id
		r.o.Logger.Info("rotation step", "use", r.use, "step", step.Kind, "key", step.KeyID, "reason", step.Reason)
		steps = append(steps, step)
	}
	return steps, nil
}

// caughtUp applies CaughtUp to the use's next key, if it has one.
func (r *rotation) caughtUp(ctx context.Context, stored []storedKey) (bool, error) {
	for _, k := range stored {
		if k.key().State != StateNext {
			continue
		}
		fetches, err := r.st.MetadataFetches(ctx)
		if err != nil {
			return false, err
		}
		ok, behind := CaughtUp(fetches, k.rec.FingerprintSHA256, k.row.PublishedAt)
		if !ok {
			r.o.Logger.Info("next key waits for IdPs to fetch metadata", "use", r.use, "key", k.row.RecordID, "idps", behind)
		}
		return ok, nil
	}
	return true, nil
}

// forced is the step --now takes when nothing is due: publish a next key,
// or promote the one published.
func forced(ks []Key) Step {
	if n := find(ks, StateNext); n != nil {
		return Step{Kind: StepPromote, KeyID: n.ID, Reason: "forced (--now)"}
	}
	return Step{Kind: StepGenerateNext, Reason: "forced (--now)"}
}

// apply takes one step and returns the id of the key it applied to (the
// generated record's, for StepGenerateNext).
func (r *rotation) apply(ctx context.Context, stored []storedKey, step Step) (string, error) {
	switch step.Kind {
	case StepGenerateNext:
		if err := checkSelfSigned(stored, r.use); err != nil {
			return "", err
		}
		n, err := generateNext(r.cfg, selectedRecord(stored), r.use, r.p, r.o.Now(), r.o.Rand)
		if err != nil {
			return "", err
		}
		rec, err := n.publish(ctx, func(ctx context.Context, nr store.NewRecord) (*store.Record, error) {
			return r.st.PublishNext(ctx, actor, string(r.use), nr, r.mode())
		})
		if err != nil {
			return "", err
		}
		return rec.ID, nil
	case StepPromote:
		return step.KeyID, r.st.Promote(ctx, actor, string(r.use), step.KeyID)
	case StepDeactivate:
		return step.KeyID, r.st.Deactivate(ctx, actor, step.KeyID)
	}
	return step.KeyID, nil
}

// mode is the publish mode of a next key the schedule generates: the
// policy's, for encryption.
func (r *rotation) mode() string {
	if r.use == keys.UseEncryption {
		return r.p.PublishMode
	}
	return store.PublishAdd
}

// reconcile makes the use's rotation states agree with its keystore
// property, which an operator may have moved by hand (property set): the
// selected record becomes the active key and the key it replaced is
// retired, so the steps that follow start from a state the store accepts.
func reconcile(ctx context.Context, st Store, use keys.Use, log *slog.Logger) error {
	changed, err := st.Reconcile(ctx, actor, string(use))
	if err != nil {
		return err
	}
	if changed {
		log.Warn("rotation state reconciled with a keystore property moved by hand", "use", use)
	}
	return nil
}

// checkSelfSigned refuses to replace a CA-signed keystore: samlkeyd can
// only rotate keys it can certify itself.
func checkSelfSigned(stored []storedKey, use keys.Use) error {
	rec := selectedRecord(stored)
	if rec == nil {
		return nil // nothing selected: nothing to replace
	}
	ks, err := rec.Chains() // a pkcs11 record: its stored chain; errors name the record
	if err != nil {
		return err
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
		prop, _ := store.UseProperty(string(use))
		return fmt.Errorf("certificate record %s (%q) is CA-signed: samlkeyd cannot rotate it by itself; start a renewal with samlkeyd cert renew %s, have your CA sign the CSR, and set %s", rec.ID, rec.Name, rec.ID, prop)
	}
	return nil
}

// selectedRecord returns the record the use's keystore property selects,
// or nil.
func selectedRecord(stored []storedKey) *store.Record {
	for _, k := range stored {
		if k.selected {
			return k.rec
		}
	}
	return nil
}

// generate makes a next key of use under policy p: a fresh self-signed key
// pair in a PKCS#12 keystore under a random password, all drawn from rnd.
func generate(use keys.Use, p Policy, host string, now time.Time, rnd io.Reader) (store.NewRecord, error) {
	g, err := keys.GenerateKeystore(keys.KeystoreOptions{
		GenerateOptions: keys.GenerateOptions{
			Alias: rotatedAlias, KeyAlg: p.KeyAlg, KeySize: p.KeySize,
			ValidityDays: int(p.Validity / (24 * time.Hour)),
			DName:        fmt.Sprintf("CN=%s SAML %s %s,O=samlkeyd", host, use, now.UTC().Format("2006-01-02")),
			Rand:         rnd,
			Now:          func() time.Time { return now },
		},
		Format: keys.FormatPKCS12,
	})
	if err != nil {
		return store.NewRecord{}, err
	}
	raw := make([]byte, 16)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return store.NewRecord{}, fmt.Errorf("record id: %w", err)
	}
	id := hex.EncodeToString(raw)
	// Record names are unique: the id's first digits tell apart keys made
	// in the same second.
	return store.NewRecord{
		ID:   id,
		Name: fmt.Sprintf("samlkeyd %s key %s %s", use, now.UTC().Format("2006-01-02T15:04:05Z"), id[:8]),
		Type: store.TypePKCS12, Data: g.Data, Alias: rotatedAlias, StorePassword: g.StorePassword, KeyPassword: g.KeyPassword,
	}, nil
}
