package idpmeta

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
)

// ErrNotFound is wrapped when a source has no usable IdP with an entity id.
var ErrNotFound = errors.New("entity not found")

// Defaults of an MDQ client whose fields are zero.
const (
	DefaultMDQNegativeTTL = 5 * time.Minute  // a 404, or an answer without a usable IdP
	DefaultMDQFailureTTL  = 30 * time.Second // a failed fetch or verification
	DefaultMDQTTL         = time.Hour        // an answer with neither cacheDuration nor validUntil
	DefaultMDQMaxTTL      = 24 * time.Hour
)

// MDQ looks IdPs up, one entity at a time, at a Metadata Query Protocol
// service (draft-young-md-query, the SAML profile
// draft-young-md-query-saml): GET {base}/entities/{percent-encoded entity
// id} (or the {sha1} form with SHA1Form), each answer an EntityDescriptor
// whose enveloped signature must verify with Signer. Answers are cached
// until their cacheDuration (at most their validUntil and MaxTTL),
// negative answers for NegativeTTL, failures for FailureTTL; concurrent
// lookups of one entity share one fetch. It is safe for concurrent use;
// set the fields before the first Lookup.
type MDQ struct {
	Source    string
	BaseURL   string
	Signer    *x509.Certificate
	AllowSHA1 bool
	SHA1Form  bool // ask for {base}/entities/%7Bsha1%7D<hex>
	Filter    Filter
	Fetcher   *Fetcher         // nil = a default Fetcher
	Now       func() time.Time // nil = time.Now

	NegativeTTL, FailureTTL, DefaultTTL, MaxTTL time.Duration // 0 = the defaults above

	mu       sync.Mutex
	cache    map[string]mdqEntry
	inflight map[string]*mdqCall
	fetches  int
}

type mdqEntry struct {
	e       *Entity
	err     error
	expires time.Time
}

type mdqCall struct {
	done chan struct{}
	e    *Entity
	err  error
}

// maxMDQCache bounds the cached answers; past it, expired ones are dropped
// and then the cache is emptied (a lookup flood costs fetches, not memory).
const maxMDQCache = 100_000

// MDQURL is the MDQ request URL of entityID: {base}/entities/ followed by
// the entity id with every byte outside RFC 3986's unreserved set
// percent-encoded.
func MDQURL(base, entityID string) string {
	return strings.TrimRight(base, "/") + "/entities/" + percentEncode(entityID)
}

// MDQSHA1URL is the {sha1} form: {base}/entities/%7Bsha1%7D followed by the
// hex SHA-1 of the entity id.
func MDQSHA1URL(base, entityID string) string {
	sum := sha1.Sum([]byte(entityID))
	return strings.TrimRight(base, "/") + "/entities/%7Bsha1%7D" + hex.EncodeToString(sum[:])
}

func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func (m *MDQ) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func ttlOr(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// Fetches is the number of requests made so far (for tests and metrics).
func (m *MDQ) Fetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetches
}

// Lookup returns the IdP entityID from the cache or the service. An entity
// the service does not know, or whose answer holds no usable IdP, is
// ErrNotFound.
func (m *MDQ) Lookup(ctx context.Context, entityID string) (*Entity, error) {
	m.mu.Lock()
	if m.cache == nil {
		m.cache, m.inflight = map[string]mdqEntry{}, map[string]*mdqCall{}
	}
	now := m.now()
	if c, ok := m.cache[entityID]; ok && now.Before(c.expires) {
		m.mu.Unlock()
		return c.e, c.err
	}
	if call, ok := m.inflight[entityID]; ok {
		m.mu.Unlock()
		select {
		case <-call.done:
			return call.e, call.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	call := &mdqCall{done: make(chan struct{})}
	m.inflight[entityID] = call
	m.fetches++
	m.mu.Unlock()

	// the fetch is not tied to the first caller's cancellation, which
	// would fail every caller sharing it
	e, ttl, err := m.fetch(context.WithoutCancel(ctx), entityID)
	m.mu.Lock()
	delete(m.inflight, entityID)
	if len(m.cache) >= maxMDQCache {
		m.prune(m.now())
	}
	m.cache[entityID] = mdqEntry{e: e, err: err, expires: m.now().Add(ttl)}
	m.mu.Unlock()
	call.e, call.err = e, err
	close(call.done)
	return e, err
}

func (m *MDQ) prune(now time.Time) {
	for k, c := range m.cache {
		if !now.Before(c.expires) {
			delete(m.cache, k)
		}
	}
	if len(m.cache) >= maxMDQCache {
		clear(m.cache)
	}
}

// fetch asks the service for entityID and returns the answer and how long
// it may be cached.
func (m *MDQ) fetch(ctx context.Context, entityID string) (*Entity, time.Duration, error) {
	u := MDQURL(m.BaseURL, entityID)
	if m.SHA1Form {
		u = MDQSHA1URL(m.BaseURL, entityID)
	}
	f := m.Fetcher
	if f == nil {
		f = &Fetcher{}
	}
	notFound := fmt.Errorf("mdq source %q: %w: %s", m.Source, ErrNotFound, entityID)
	var a *Aggregate
	now := m.now()
	err := f.Stream(ctx, m.Source, u, func(body io.Reader, _ string) error {
		var err error
		a, err = VerifyAggregate(body, VerifyOptions{Source: m.Source, Signer: m.Signer, AllowSHA1: m.AllowSHA1, Now: now, Filter: m.Filter, Limits: mdqLimits()})
		return err
	})
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return nil, ttlOr(m.NegativeTTL, DefaultMDQNegativeTTL), notFound
	case err != nil:
		return nil, ttlOr(m.FailureTTL, DefaultMDQFailureTTL), fmt.Errorf("mdq source %q: %w", m.Source, err)
	}
	e := a.Lookup(entityID)
	if e == nil {
		return nil, ttlOr(m.NegativeTTL, DefaultMDQNegativeTTL), notFound
	}
	ttl := ttlOr(a.CacheDuration, ttlOr(m.DefaultTTL, DefaultMDQTTL))
	ttl = min(ttl, ttlOr(m.MaxTTL, DefaultMDQMaxTTL))
	for _, until := range []time.Time{a.ValidUntil, e.ValidUntil} {
		if !until.IsZero() {
			ttl = min(ttl, until.Sub(now))
		}
	}
	return e, ttl, nil
}

// mdqLimits are the limits on one MDQ answer, one entity's metadata: those
// of an IdP metadata document.
func mdqLimits() sp.Limits { return sp.DefaultMetadataLimits() }
