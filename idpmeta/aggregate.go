package idpmeta

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
)

// ErrExpired is wrapped when a metadata document's validUntil has passed.
var ErrExpired = errors.New("metadata expired")

// VerifyOptions say how a signed metadata document is checked and indexed.
type VerifyOptions struct {
	Source    string            // the idp_sources name, for errors and Entity.Source
	Signer    *x509.Certificate // required: the certificate the root's signature must verify with
	AllowSHA1 bool              // accept rsa-sha1 / sha1 (deprecated)
	Now       time.Time         // zero = time.Now()
	Limits    sp.Limits         // zero fields take AggregateLimits
	Filter    Filter
}

// Aggregate is a verified federation aggregate (or MDQ answer) indexed by
// entity id. It is immutable and safe for concurrent use.
type Aggregate struct {
	Source        string
	ValidUntil    time.Time     // of the root; zero = none
	CacheDuration time.Duration // of the root; 0 = none
	Skipped       int           // entities not indexed: not IdPs, expired, filtered out, duplicate, malformed
	entities      map[string]*Entity
}

// Lookup returns the IdP entity with the given entity id, or nil.
func (a *Aggregate) Lookup(entityID string) *Entity {
	if a == nil {
		return nil
	}
	return a.entities[entityID]
}

// Len is the number of IdP entities indexed.
func (a *Aggregate) Len() int { return len(a.entities) }

// EntityIDs returns the indexed entity ids, sorted.
func (a *Aggregate) EntityIDs() []string {
	ids := make([]string, 0, len(a.entities))
	for id := range a.entities {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Expires is when the aggregate stops being usable: its validUntil, or
// the zero time when it has none.
func (a *Aggregate) Expires() time.Time { return a.ValidUntil }

// VerifyAggregate reads a signed metadata document from r in one streaming
// pass — structural limits, the exclusive canonical form of the root
// without its enveloped signature into the reference's digest, and the
// IdP entities — then verifies the signature with o.Signer and the root's
// validUntil, and returns the index. Nothing is returned unless the whole
// document verified. Memory is O(depth + the index), not O(document).
func VerifyAggregate(r io.Reader, o VerifyOptions) (*Aggregate, error) {
	fail := func(err error) (*Aggregate, error) {
		return nil, fmt.Errorf("verify metadata of source %q: %w", o.Source, err)
	}
	if o.Signer == nil {
		return fail(errors.New("no signing certificate configured (signing_cert is required)"))
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if _, ok := r.(io.ByteReader); !ok {
		r = bufio.NewReaderSize(r, 256<<10)
	}
	x := newIndexer(now, o.Source, o.Filter)
	var sig *signature
	var h hash.Hash
	s := &scan{d: xml.NewDecoder(bufio.NewReaderSize(&attrNormalizer{r: r}, 64<<10)), lim: limitsOr(o.Limits), c: x}
	s.pick = func(got *signature) (*c14nWriter, error) {
		if got == nil {
			return nil, fmt.Errorf("%w: the document is not signed: %w", errNoSignature, ErrSignature)
		}
		sig, h = got, got.hasher()
		return newC14NWriter(h, got.refPrefixes), nil
	}
	if err := s.run(); err != nil {
		return fail(err)
	}
	if s.rootSpace != nsMD || s.root.Name.Local != "EntitiesDescriptor" && s.root.Name.Local != "EntityDescriptor" {
		return fail(fmt.Errorf("root is %s, want md:EntitiesDescriptor or md:EntityDescriptor", rawName(s.root.Name)))
	}
	if err := sig.check(attr(s.root, "ID"), h.Sum(nil), o.Signer, o.AllowSHA1); err != nil {
		return fail(err)
	}
	a := &Aggregate{Source: o.Source, Skipped: x.skipped, entities: x.entities}
	if v := strings.TrimSpace(attr(s.root, "validUntil")); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fail(fmt.Errorf("validUntil %q: %w", v, err))
		}
		if !now.Before(t) {
			return fail(fmt.Errorf("%w at %s (validUntil); the publisher has not refreshed it", ErrExpired, t.Format(time.RFC3339)))
		}
		a.ValidUntil = t
	}
	if v := strings.TrimSpace(attr(s.root, "cacheDuration")); v != "" {
		d, err := ParseDuration(v)
		if err != nil {
			return fail(fmt.Errorf("cacheDuration: %w", err))
		}
		a.CacheDuration = d
	}
	return a, nil
}

// VerifyAggregateFile is VerifyAggregate on a file, streamed.
func VerifyAggregateFile(path string, o VerifyOptions) (*Aggregate, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify metadata of source %q: %w", o.Source, err)
	}
	defer f.Close()
	return VerifyAggregate(f, o)
}

// VerifyAggregateBytes is VerifyAggregate on a document in memory.
func VerifyAggregateBytes(data []byte, o VerifyOptions) (*Aggregate, error) {
	return VerifyAggregate(bytes.NewReader(data), o)
}

func limitsOr(l sp.Limits) sp.Limits { return l.WithDefaults(AggregateLimits()) }

// canonicalize writes the exclusive canonical form of the document in r
// (its root, without the enveloped ds:Signature when the root's first
// child is one) to w. It is the digest input VerifyAggregate hashes; the
// differential tests compare it with goxmldsig's and xmlsec1's.
func canonicalize(r io.Reader, w io.Writer, prefixes []string) error {
	s := &scan{d: xml.NewDecoder(&attrNormalizer{r: r}), lim: limitsOr(sp.Limits{}), c: nopConsumer{}, ignoreSig: true}
	s.pick = func(got *signature) (*c14nWriter, error) { return newC14NWriter(w, prefixes), nil }
	return s.run()
}

type nopConsumer struct{}

func (nopConsumer) start(int, string, string, *xml.StartElement) {}
func (nopConsumer) end(int)                                      {}
func (nopConsumer) text([]byte)                                  {}
