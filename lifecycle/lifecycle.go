// Package lifecycle owns key rotation and expiry: the states a rotated key
// goes through (next, active, retired, inactive), which single step a
// rollover needs now, which keys metadata must publish, when the IdPs have
// caught up with a next key, which expiry threshold a certificate has
// crossed, and the rollover procedure itself — scheduled (Rotate) or staged
// by hand (Publish, Promote, Cancel; manual.go) — with its report
// (ReadStatus). Which keys are kept and listed in metadata is one rule
// (Serving, Kept, Listed) that the snapshot build and ReadStatus share. The decisions are pure functions of their arguments (time
// included); Rotate and ReadStatus reach the store only through the small
// interfaces in store.go. Lifecycle never sends alerts: it returns errors
// and the daemon decides what is worth an alert.
package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

// Policy says how one use's key (signing or encryption) is rolled over.
type Policy struct {
	KeyAlg       string        // RSA or EC
	KeySize      int           // bits (RSA) or curve size (EC)
	Validity     time.Duration // of each generated certificate
	RotateBefore time.Duration // generate the next key this long before the active one expires
	PublishFor   time.Duration // publish the next key this long before promoting it
	RetireAfter  time.Duration // keep a retired key published / decrypting this long
	MaxWait      time.Duration // after PublishFor, promote even if some IdP has not fetched metadata again
	Schedule     string        // when the daemon runs the rollover (a cron spec the config validated)
	Every        cron.Schedule // Schedule as the config parsed it; nil for a config built in code and not validated
	PublishMode  string        // store.PublishAdd or store.PublishReplace (encryption only)
}

// Defaults of a Policy the config leaves open. A manual rollover of a use
// without a rotation block runs under DefaultPolicy.
const (
	DefaultValidity    = 365 * 24 * time.Hour
	DefaultKeySize     = 2048
	DefaultRetireAfter = 7 * 24 * time.Hour // a retired key stays published and decrypting this long
)

// DefaultPolicy is the policy of a use without a rotation block: RSA 2048
// keys valid DefaultValidity, retired keys kept DefaultRetireAfter,
// published in add mode. It has no schedule: nothing runs it but an
// operator (rotate publish, promote, cancel).
func DefaultPolicy() Policy {
	return Policy{KeyAlg: "RSA", KeySize: DefaultKeySize, Validity: DefaultValidity,
		RetireAfter: DefaultRetireAfter, PublishMode: store.PublishAdd}
}

// Effective returns the policy cfg sets for use, or DefaultPolicy when it
// sets none: the one rule metadata, decryption, rotate status and the
// manual rollover apply to a use's keys.
func Effective(cfg *config.Config, use keys.Use) (Policy, error) {
	p, ok, err := PolicyOf(cfg, use)
	if err != nil || ok {
		return p, err
	}
	return DefaultPolicy(), nil
}

// PolicyFrom turns a config rotation policy into a Policy, filling the
// defaults (RSA 2048, one year, MaxWait = PublishFor) and checking that the
// durations fit together.
func PolicyFrom(c *config.RotationPolicy) (Policy, error) {
	if c == nil {
		return Policy{}, errors.New("rotation policy: none configured")
	}
	p := Policy{KeyAlg: strings.ToUpper(c.KeyAlg), KeySize: c.KeySize, Validity: c.Validity,
		RotateBefore: c.RotateBefore, PublishFor: c.PublishFor, RetireAfter: c.RetireAfter, MaxWait: c.MaxWait,
		Schedule: c.Schedule, Every: c.ParsedSchedule, PublishMode: strings.ToLower(c.PublishMode)}
	if p.PublishMode == "" {
		p.PublishMode = store.PublishAdd
	}
	if p.KeyAlg == "" {
		p.KeyAlg = "RSA"
	}
	if p.KeySize == 0 {
		p.KeySize = DefaultKeySize
		if p.KeyAlg == "EC" {
			p.KeySize = 256
		}
	}
	if p.Validity == 0 {
		p.Validity = DefaultValidity
	}
	if p.MaxWait == 0 {
		p.MaxWait = p.PublishFor
	}
	switch {
	case p.KeyAlg != "RSA" && p.KeyAlg != "EC":
		return Policy{}, fmt.Errorf("rotation policy: key_alg %q: want RSA or EC", c.KeyAlg)
	case p.PublishMode != store.PublishAdd && p.PublishMode != store.PublishReplace:
		return Policy{}, fmt.Errorf("rotation policy: publish_mode %q: want add or replace", c.PublishMode)
	case p.RotateBefore <= 0 || p.PublishFor <= 0 || p.RetireAfter <= 0:
		return Policy{}, errors.New("rotation policy: rotate_before, publish_for and retire_after must be positive")
	case p.PublishFor+p.MaxWait >= p.RotateBefore:
		return Policy{}, fmt.Errorf("rotation policy: publish_for (%s) plus max_wait (%s) must be shorter than rotate_before (%s), or the active key could expire before its successor is promoted",
			p.PublishFor, p.MaxWait, p.RotateBefore)
	case p.RotateBefore >= p.Validity:
		return Policy{}, fmt.Errorf("rotation policy: rotate_before (%s) must be shorter than validity (%s)", p.RotateBefore, p.Validity)
	}
	return p, nil
}

// PolicyOf returns the rotation policy the config sets for use, derived by
// PolicyFrom: ok is false when the config rotates no key of that use. It is
// the one place the daemon, its snapshot and the CLI get a policy from.
func PolicyOf(cfg *config.Config, use keys.Use) (p Policy, ok bool, err error) {
	var c *config.RotationPolicy
	switch use {
	case keys.UseSigning:
		c = cfg.Rotation.Signing
	case keys.UseEncryption:
		c = cfg.Rotation.Encryption
	default:
		return Policy{}, false, fmt.Errorf("rotation: use %q: want signing or encryption", use)
	}
	if c == nil {
		return Policy{}, false, nil
	}
	if p, err = PolicyFrom(c); err != nil {
		return Policy{}, true, fmt.Errorf("rotation.%s: %w", use, err)
	}
	return p, true, nil
}

// State is where a rotated key stands.
type State string

// The states of a rotated key, in the order a key goes through them.
const (
	StateNext     State = "next"     // published in metadata, not used yet
	StateActive   State = "active"   // the keystore property points at it: it signs / is the preferred encryption key
	StateRetired  State = "retired"  // still published and still decrypting, for RetireAfter
	StateInactive State = "inactive" // done
)

// Key is what the decisions need to know of one rotated key.
type Key struct {
	ID          string
	State       State
	NotBefore   time.Time // of its certificate (informational: the decisions use NotAfter)
	NotAfter    time.Time // of its certificate
	PublishedAt time.Time // when it entered StateNext
	PromotedAt  time.Time // when it became active
	RetiredAt   time.Time // when it was retired
	Mode        string    // how it was published as next (store.PublishAdd or PublishReplace; "" = add)
}

// StepKind names one rollover step.
type StepKind string

// The steps of a rollover. Each is one store transaction in the daemon.
const (
	StepNone         StepKind = "none"
	StepGenerateNext StepKind = "generate_next" // make a new key and publish it as next
	StepPromote      StepKind = "promote"       // next becomes active, the old active key retired
	StepDeactivate   StepKind = "deactivate"    // a retired key past RetireAfter becomes inactive
)

// Step is the one thing a rollover needs now, with the key it applies to.
type Step struct {
	Kind   StepKind
	KeyID  string
	Reason string
}

// Due returns the single next step of one use's rollover at now:
// generate the next key once the active one is within RotateBefore of its
// expiry; promote the next key once it has been published for PublishFor
// and every IdP has fetched metadata since (idpsCaughtUp), or for
// PublishFor+MaxWait regardless; deactivate a retired key RetireAfter after
// its retirement. With no active key, a next key is promoted at once and
// without one a key is generated. Calling Due again after applying the step
// gives the following one; StepNone means nothing is due.
func Due(keys []Key, now time.Time, p Policy, idpsCaughtUp bool) Step {
	active, next := find(keys, StateActive), find(keys, StateNext)
	switch {
	case active == nil && next != nil:
		return Step{StepPromote, next.ID, "no active key"}
	case active == nil:
		return Step{StepGenerateNext, "", "no active key"}
	case next == nil && !now.Before(active.NotAfter.Add(-p.RotateBefore)):
		return Step{StepGenerateNext, "", fmt.Sprintf("active key %s expires %s, within rotate_before (%s)",
			active.ID, active.NotAfter.Format(time.RFC3339), p.RotateBefore)}
	case next != nil:
		published := now.Sub(next.PublishedAt)
		switch {
		case published >= p.PublishFor && idpsCaughtUp:
			return Step{StepPromote, next.ID, fmt.Sprintf("published for %s and every IdP has fetched it", published.Round(time.Minute))}
		case published >= p.PublishFor+p.MaxWait:
			return Step{StepPromote, next.ID, fmt.Sprintf("published for %s: max_wait (%s) passed although some IdP has not fetched it", published.Round(time.Minute), p.MaxWait)}
		}
	}
	for _, k := range keys {
		if k.State == StateRetired && !Kept(k, now, p) {
			return Step{StepDeactivate, k.ID, fmt.Sprintf("retired for %s (retire_after)", p.RetireAfter)}
		}
	}
	return Step{Kind: StepNone}
}

// Kept reports whether a key is still in use at now: active, next, or
// retired less than RetireAfter ago. A kept key decrypts; metadata lists it
// unless a replace-mode key hides it (Listed). A key retired without a date
// (the property was moved away from it by hand and no rotation run has
// reconciled the states yet) is kept: its retire_after has not started.
func Kept(k Key, now time.Time, p Policy) bool {
	switch k.State {
	case StateActive, StateNext:
		return true
	case StateRetired:
		return k.RetiredAt.IsZero() || now.Before(k.RetiredAt.Add(p.RetireAfter))
	}
	return false
}

// RetiredUntil is when a retired key stops being kept (Kept).
func RetiredUntil(k Key, p Policy) time.Time { return k.RetiredAt.Add(p.RetireAfter) }

// Published returns the keys metadata must publish (and decryption must
// accept) at now: the active key first, then the next key, then retired
// keys still inside RetireAfter, newest retirement first. Listed says
// which of them metadata lists.
func Published(keys []Key, now time.Time, p Policy) []Key {
	var out, retired []Key
	if a := find(keys, StateActive); a != nil {
		out = append(out, *a)
	}
	if n := find(keys, StateNext); n != nil {
		out = append(out, *n)
	}
	for _, k := range keys {
		if k.State == StateRetired && Kept(k, now, p) {
			retired = append(retired, k)
		}
	}
	slices.SortFunc(retired, func(a, b Key) int { return b.RetiredAt.Compare(a.RetiredAt) })
	return append(out, retired...)
}

// Listed reports whether metadata lists the certificate of k, one of the
// kept keys of use (Published): every kept key, except that for encryption
// a key published in replace mode, the newest kept key (the next key, or
// the active one once promoted), is listed alone; the others still decrypt
// (the one-certificate rollover ADFS needs).
func Listed(k Key, kept []Key, use keys.Use) bool {
	if use != keys.UseEncryption {
		return true
	}
	newest := find(kept, StateNext)
	if newest == nil {
		newest = find(kept, StateActive)
	}
	if newest == nil || newest.Mode != store.PublishReplace {
		return true
	}
	return k.ID == newest.ID
}

func find(keys []Key, s State) *Key {
	for i := range keys {
		if keys[i].State == s {
			return &keys[i]
		}
	}
	return nil
}

// Thresholds returns the tightest expiry threshold a certificate expiring at
// notAfter has crossed at now (ok false: none yet), or expired when it has
// expired.
func Thresholds(notAfter, now time.Time, thresholds []time.Duration) (crossed time.Duration, expired, ok bool) {
	if !now.Before(notAfter) {
		return 0, true, true
	}
	left := notAfter.Sub(now)
	for _, t := range thresholds {
		if left <= t && (!ok || t < crossed) {
			crossed, ok = t, true
		}
	}
	return crossed, false, ok
}

// AlertKey is the de-duplication key of an expiry alert: one per
// certificate (by fingerprint) and threshold, so a renewed certificate
// alerts afresh.
func AlertKey(fingerprint string, crossed time.Duration, expired bool) string {
	if expired {
		return "expired:" + fingerprint
	}
	return "expiry:" + fingerprint + ":" + crossed.String()
}
