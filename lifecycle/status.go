package lifecycle

import (
	"context"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// Status is where the rollover of each use stands: what `samlkeyd rotate
// status`, the API and the status page show.
type Status struct {
	Uses []UseStatus `json:"uses"` // signing, then encryption
}

// UseStatus is the rollover of one use.
type UseStatus struct {
	Use        keys.Use `json:"use"`
	Configured bool     `json:"configured"`        // the config sets rotation.<use>
	Problem    string   `json:"problem,omitempty"` // why the configured policy cannot be used
	// Keys are the use's keys: those with a rotation row, oldest first, then
	// the record the keystore property selects if it has none.
	Keys []KeyStatus `json:"keys"`
	// NextPublish is when a next key is due (rotate_before before the active
	// key expires); zero while a next key is published or with no policy.
	NextPublish time.Time `json:"next_publish,omitzero"`
	// NextPromotion is when the next key is due for promotion as things
	// stand: publish_for after its publication once every IdP has fetched
	// it, else publish_for plus max_wait. The daemon takes the step on its
	// first scheduled run from then. Zero without a next key or policy.
	NextPromotion time.Time `json:"next_promotion,omitzero"`
	// IdPs are every IdP that has fetched the metadata, by name.
	IdPs []IdPFetch `json:"idps"`
}

// HasNext reports whether the use has a next key published.
func (u UseStatus) HasNext() bool {
	for _, k := range u.Keys {
		if k.State == StateNext {
			return true
		}
	}
	return false
}

// KeyStatus is one key of a use. State is the stored rollover state (a
// selected record without a rotation row counts as active); Selected says
// whether the keystore property points at it. Rotation treats the selected
// key as the active one whatever its state says.
type KeyStatus struct {
	RecordID          string    `json:"record_id"`
	Use               keys.Use  `json:"use"`
	State             State     `json:"state"`
	PublishedAt       time.Time `json:"published_at"`
	PromotedAt        time.Time `json:"promoted_at,omitzero"`
	RetiredAt         time.Time `json:"retired_at,omitzero"`
	Name              string    `json:"name"`
	NotAfter          time.Time `json:"not_after"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	Selected          bool      `json:"selected"`
	// Kept: the key is in use (active, next, or retired inside
	// retire_after): it decrypts, and metadata lists it when Listed. The
	// snapshot build applies the same rule (Serving), so rotate status and
	// metadata always agree.
	Kept   bool `json:"kept"`
	Listed bool `json:"listed"` // metadata lists its certificate
	// KeptUntil is when a retired key stops being kept (retire_after, the
	// policy's or the default).
	KeptUntil   time.Time `json:"kept_until,omitzero"`
	PublishMode string    `json:"publish_mode,omitempty"`
}

// IdPFetch is one IdP's last metadata fetch, against a use's next key.
type IdPFetch struct {
	IdP       string    `json:"idp"`
	LastFetch time.Time `json:"last_fetch"`
	// FetchedNext: the fetch came after the use's next key was published
	// and was served it (FetchedNext); false without a next key.
	FetchedNext bool `json:"fetched_next"`
}

// ReadStatus reads the rollover of both uses from the store and the
// policies from the config, at now (what is kept and listed).
func ReadStatus(ctx context.Context, cfg *config.Config, st Reader, now time.Time) (*Status, error) {
	fetches, err := st.MetadataFetches(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{}
	for _, use := range []keys.Use{keys.UseSigning, keys.UseEncryption} {
		stored, err := readKeys(ctx, st, use)
		if err != nil {
			return nil, err
		}
		u := UseStatus{Use: use, Keys: []KeyStatus{}, IdPs: []IdPFetch{}}
		p, ok, err := PolicyOf(cfg, use)
		u.Configured = ok
		if err != nil {
			u.Problem = err.Error()
		}
		eff, effErr := Effective(cfg, use)
		if effErr != nil {
			eff = DefaultPolicy() // the snapshot build refuses such a config; Problem says why
		}
		kept := Published(view(stored), now, eff)
		var next *storedKey
		for i, k := range stored {
			ks := KeyStatus{RecordID: k.row.RecordID, Use: use, State: State(k.row.State),
				PublishedAt: k.row.PublishedAt, PromotedAt: k.row.PromotedAt, RetiredAt: k.row.RetiredAt,
				Name: k.rec.Name, NotAfter: k.rec.NotAfter, FingerprintSHA256: k.rec.FingerprintSHA256, Selected: k.selected,
				PublishMode: k.row.PublishMode}
			if v := k.key(); Kept(v, now, eff) {
				ks.Kept, ks.Listed = true, Listed(v, kept, use)
				if v.State == StateRetired && !v.RetiredAt.IsZero() {
					ks.KeptUntil = RetiredUntil(v, eff)
				}
			}
			u.Keys = append(u.Keys, ks)
			if k.key().State == StateNext {
				next = &stored[i]
			}
		}
		caughtUp := true
		for _, f := range fetches {
			fetched := next != nil && FetchedNext(f, next.rec.FingerprintSHA256, next.row.PublishedAt)
			caughtUp = caughtUp && (next == nil || fetched)
			u.IdPs = append(u.IdPs, IdPFetch{IdP: f.IdP, LastFetch: f.At, FetchedNext: fetched})
		}
		if ok && err == nil {
			u.NextPublish, u.NextPromotion = nextTimes(view(stored), p, caughtUp)
		}
		s.Uses = append(s.Uses, u)
	}
	return s, nil
}

// nextTimes returns when Due will next publish or promote a key, given
// whether the IdPs have caught up with the next key.
func nextTimes(ks []Key, p Policy, caughtUp bool) (publish, promote time.Time) {
	active, next := find(ks, StateActive), find(ks, StateNext)
	switch {
	case next == nil && active != nil:
		return active.NotAfter.Add(-p.RotateBefore), time.Time{}
	case next == nil:
		return time.Time{}, time.Time{}
	case active == nil:
		return time.Time{}, next.PublishedAt
	case caughtUp:
		return time.Time{}, next.PublishedAt.Add(p.PublishFor)
	}
	return time.Time{}, next.PublishedAt.Add(p.PublishFor + p.MaxWait)
}
