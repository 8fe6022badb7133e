package idpmeta

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

// DefaultAggregateMaxBytes caps an aggregate fetched from a URL (the
// largest federations publish ~100 MB).
const DefaultAggregateMaxBytes = 512 << 20

// ErrNotLoaded is wrapped by a lookup in an aggregate never loaded yet.
var ErrNotLoaded = errors.New("aggregate not loaded")

// Source is one idp_sources entry the daemon looks IdPs up in. Lookup
// MUST be safe for concurrent use and wrap ErrNotFound when the source has
// no such IdP.
type Source interface {
	Name() string
	Lookup(ctx context.Context, entityID string) (*Entity, error)
}

var (
	_ Source = (*AggregateSource)(nil)
	_ Source = (*MDQSource)(nil)
)

// AggregateSource is an aggregate_url or aggregate_file source: the last
// good verified index of the aggregate, replaced by Refresh when a new
// document verifies. A failed refresh keeps the last good index in use
// until its validUntil. Safe for concurrent use.
type AggregateSource struct {
	Source    string
	URL, File string // one of them
	Signer    *x509.Certificate
	AllowSHA1 bool
	Filter    Filter
	Refresh   time.Duration    // 0 = config.DefaultSourceRefresh
	Fetcher   *Fetcher         // nil = a Fetcher with MaxBytes DefaultAggregateMaxBytes
	Now       func() time.Time // nil = time.Now

	mu    sync.Mutex // one refresh at a time
	state atomic.Pointer[AggregateState]
}

// AggregateState is what an AggregateSource holds: the index, the SHA-256
// of the document it came from (a component is reused while it is the
// same), and the last attempt.
type AggregateState struct {
	Aggregate *Aggregate // nil until one verified
	SHA256    [32]byte
	Loaded    time.Time // when Aggregate was verified
	Tried     time.Time // the last attempt
	Err       error     // of the last attempt; nil when it succeeded
}

// Name is the source name.
func (s *AggregateSource) Name() string { return s.Source }

func (s *AggregateSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// State returns the current state (never nil).
func (s *AggregateSource) State() *AggregateState {
	if st := s.state.Load(); st != nil {
		return st
	}
	return &AggregateState{}
}

// Due reports whether a refresh is due at now: never tried, or tried at
// least Refresh ago (or the aggregate's cacheDuration, when shorter).
func (s *AggregateSource) Due(now time.Time) bool {
	st := s.State()
	if st.Tried.IsZero() {
		return true
	}
	every := s.Refresh
	if every <= 0 {
		every = config.DefaultSourceRefresh
	}
	if a := st.Aggregate; a != nil && a.CacheDuration > 0 && st.Err == nil {
		every = min(every, a.CacheDuration)
	}
	return !now.Before(st.Tried.Add(every))
}

// Update fetches or reads the aggregate, verifies and indexes it in one
// streaming pass, and replaces the index when it verified. It reports
// whether the document changed; on an error the previous index stays.
func (s *AggregateSource) Update(ctx context.Context) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.State()
	now := s.now()
	next := *prev
	next.Tried = now
	h := sha256.New()
	var a *Aggregate
	verify := func(r io.Reader) error {
		var err error
		a, err = VerifyAggregate(io.TeeReader(r, h), VerifyOptions{Source: s.Source, Signer: s.Signer, AllowSHA1: s.AllowSHA1, Now: now, Filter: s.Filter})
		return err
	}
	switch {
	case s.File != "":
		var f *os.File
		if f, err = os.Open(s.File); err == nil {
			err = verify(f)
			f.Close()
		}
		if err != nil {
			err = fmt.Errorf("source %q file %s: %w", s.Source, s.File, err)
		}
	default:
		fe := s.Fetcher
		if fe == nil {
			fe = &Fetcher{MaxBytes: DefaultAggregateMaxBytes, Timeout: 5 * time.Minute}
		}
		err = fe.Stream(ctx, s.Source, s.URL, func(r io.Reader, _ string) error { return verify(r) })
	}
	next.Err = err
	if err == nil {
		var sum [32]byte
		h.Sum(sum[:0])
		changed = sum != prev.SHA256 || prev.Aggregate == nil
		if changed {
			next.Aggregate, next.SHA256 = a, sum
		}
		next.Loaded = now
	}
	s.state.Store(&next)
	return changed, err
}

// Lookup returns the IdP entityID from the current index.
func (s *AggregateSource) Lookup(_ context.Context, entityID string) (*Entity, error) {
	st := s.State()
	a := st.Aggregate
	if a == nil {
		if st.Err != nil {
			return nil, fmt.Errorf("source %q: %w: %w", s.Source, ErrNotLoaded, st.Err)
		}
		return nil, fmt.Errorf("source %q: %w", s.Source, ErrNotLoaded)
	}
	if !a.ValidUntil.IsZero() && !s.now().Before(a.ValidUntil) {
		return nil, fmt.Errorf("source %q: %w at %s and no fresh copy verified (last error: %v)", s.Source, ErrExpired, a.ValidUntil.Format(time.RFC3339), st.Err)
	}
	e := a.Lookup(entityID)
	if e == nil || !e.ValidUntil.IsZero() && !s.now().Before(e.ValidUntil) {
		return nil, fmt.Errorf("source %q: %w: %s", s.Source, ErrNotFound, entityID)
	}
	return e, nil
}

// MDQSource adapts an MDQ client to Source.
type MDQSource struct{ *MDQ }

// Name is the source name.
func (m MDQSource) Name() string { return m.Source }

// Sources looks IdPs up in the configured sources, in config order. It is
// the resolver the daemon consults for an IdP that is not a named idps
// record. Safe for concurrent use.
type Sources struct {
	list []Source
	cfg  map[string]config.IdPSource
}

// NewSources returns a resolver over list; cfg gives each source's
// per-IdP switches by name (see Entity.ConfigIdP).
func NewSources(cfg []config.IdPSource, list ...Source) *Sources {
	m := make(map[string]config.IdPSource, len(cfg))
	for _, c := range cfg {
		m[c.Name] = c
	}
	return &Sources{list: list, cfg: m}
}

// List returns the sources.
func (s *Sources) List() []Source { return s.list }

// Config returns the idp_sources entry of the source named name.
func (s *Sources) Config(name string) config.IdPSource { return s.cfg[name] }

// Lookup returns the first source's IdP entityID. When no source has it
// the error wraps ErrNotFound, joined with the failures of sources that
// could not answer (an expired aggregate, an unreachable MDQ service).
func (s *Sources) Lookup(ctx context.Context, entityID string) (*Entity, error) {
	var errs []error
	for _, src := range s.list {
		e, err := src.Lookup(ctx, entityID)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return nil, errors.Join(append([]error{fmt.Errorf("idp %q: %w in any idp_sources entry", entityID, ErrNotFound)}, errs...)...)
}

// FromConfig builds the sources of cfg. signer returns the certificate of a
// trust-store record by name (the daemon reads it from the store); f is the
// fetcher of MDQ sources (nil = default). Aggregates are empty until their
// first Update.
func FromConfig(cfg []config.IdPSource, signer func(record string) (*x509.Certificate, error), f *Fetcher, now func() time.Time) (*Sources, error) {
	var list []Source
	for i, c := range cfg {
		cert, err := signer(c.SigningCert)
		if err != nil {
			return nil, fmt.Errorf("idp_sources[%d] (%s) signing_cert %q: %w", i, c.Name, c.SigningCert, err)
		}
		flt := Filter{EntityIDs: c.EntityIDs, RegistrationAuthority: c.RegistrationAuthority, EntityCategory: c.EntityCategory}
		if c.MDQURL != "" {
			list = append(list, MDQSource{&MDQ{Source: c.Name, BaseURL: c.MDQURL, Signer: cert, AllowSHA1: c.AllowSHA1, Filter: flt, Fetcher: f, Now: now}})
			continue
		}
		list = append(list, &AggregateSource{Source: c.Name, URL: c.AggregateURL, File: c.AggregateFile, Signer: cert,
			AllowSHA1: c.AllowSHA1, Filter: flt, Refresh: c.Refresh, Now: now})
	}
	return NewSources(cfg, list...), nil
}

// UpdateDue updates every aggregate source due at now (see
// AggregateSource.Due), one after another, and returns the names of those
// whose document changed and the errors of those that failed (each
// keeping its last good index). The daemon's refresh loop calls it; a
// change means the IdP components of that source are rebuilt.
func (s *Sources) UpdateDue(ctx context.Context, now time.Time) (changed []string, errs []error) {
	for _, src := range s.list {
		a, ok := src.(*AggregateSource)
		if !ok || !a.Due(now) {
			continue
		}
		c, err := a.Update(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		if c {
			changed = append(changed, a.Source)
		}
	}
	return changed, errs
}

// SourceStatus is one source's state for /readyz, metrics and the status
// pages.
type SourceStatus struct {
	Name       string
	Kind       string    // "aggregate" or "mdq"
	Entities   int       // IdPs indexed (aggregates)
	ValidUntil time.Time // of the index in use (aggregates); zero = none
	Loaded     time.Time // when the index in use was verified
	Err        error     // the last attempt's; with Entities > 0 the last good index is still in use
	Up         bool      // lookups can succeed: an index in use and not expired (MDQ: always)
}

// Status reports each source at now.
func (s *Sources) Status(now time.Time) []SourceStatus {
	out := make([]SourceStatus, 0, len(s.list))
	for _, src := range s.list {
		st := SourceStatus{Name: src.Name(), Kind: "mdq", Up: true}
		if a, ok := src.(*AggregateSource); ok {
			cur := a.State()
			st.Kind, st.Err, st.Loaded, st.Up = "aggregate", cur.Err, cur.Loaded, false
			if cur.Aggregate != nil {
				st.Entities, st.ValidUntil = cur.Aggregate.Len(), cur.Aggregate.ValidUntil
				st.Up = st.ValidUntil.IsZero() || now.Before(st.ValidUntil)
			}
		}
		out = append(out, st)
	}
	return out
}
