package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// buildCache is what one build parsed, for the next build to reuse: opened
// keystores and public chains by record id and version, IdP documents by
// content hash (and metadata signer), metadata files by path and stat. A
// build starts a fresh cache that looks misses up in the previous
// snapshot's, so only what is still in use is carried forward. A cache is
// written by its own build only and read-only once its snapshot is built.
type buildCache struct {
	prev *buildCache

	creds   map[openKey]*keys.Credential // private-key credentials (role current)
	entries map[openKey]*keys.Entry      // mTLS client entries
	chains  map[openKey][]*x509.Certificate
	docs    map[docKey]docResult
	files   map[string]fileState
}

// openKey is a record at one version, opened for one purpose.
type openKey struct {
	id      string
	version int64
	use     string
}

// docKey is an IdP document by content hash, verified by one signer.
type docKey struct {
	sum    [32]byte
	signer string // the signer's SHA-256 fingerprint, "" for none
}

// docResult is a parsed document or why it did not parse.
type docResult struct {
	md  *sp.IdPMetadata
	err error
}

// fileState is an IdP metadata file as last read.
type fileState struct {
	size    int64
	modTime time.Time
	data    []byte
	sum     [32]byte
	err     error
}

func newBuildCache(prev *buildCache) *buildCache {
	if prev != nil {
		p := *prev
		p.prev = nil // one generation back is enough: older ones are let go
		prev = &p
	}
	return &buildCache{prev: prev,
		creds: map[openKey]*keys.Credential{}, entries: map[openKey]*keys.Entry{},
		chains: map[openKey][]*x509.Certificate{}, docs: map[docKey]docResult{}, files: map[string]fileState{}}
}

// lookup finds k in this build's map or the previous build's, copying a
// hit from the previous into this one.
func lookup[K comparable, V any](cur map[K]V, prev func() map[K]V, k K) (V, bool) {
	if v, ok := cur[k]; ok {
		return v, true
	}
	if p := prev(); p != nil {
		if v, ok := p[k]; ok {
			cur[k] = v
			return v, true
		}
	}
	var zero V
	return zero, false
}

func (c *buildCache) prevCreds() map[openKey]*keys.Credential {
	if c.prev == nil {
		return nil
	}
	return c.prev.creds
}

func (c *buildCache) prevEntries() map[openKey]*keys.Entry {
	if c.prev == nil {
		return nil
	}
	return c.prev.entries
}

func (c *buildCache) prevChains() map[openKey][]*x509.Certificate {
	if c.prev == nil {
		return nil
	}
	return c.prev.chains
}

func (c *buildCache) prevDocs() map[docKey]docResult {
	if c.prev == nil {
		return nil
	}
	return c.prev.docs
}

// opener opens records in use, through a build's cache. The facts records
// carry no content: a miss reads the record from the store.
type opener struct {
	ctx    context.Context
	st     Store
	cache  *buildCache
	onOpen func(id string)
}

// load reads the record's content (and passwords) from the store.
func (o *opener) load(rec *store.Record) (*store.Record, error) {
	if rec.Data != nil {
		return rec, nil
	}
	full, err := o.st.Record(o.ctx, rec.ID)
	if err != nil {
		return nil, fmt.Errorf("read certificate record %s (%q): %w", rec.ID, rec.Name, err)
	}
	if o.onOpen != nil {
		o.onOpen(rec.ID)
	}
	return full, nil
}

// credential opens rec as a key of use (role current; callers copy it to
// set another role).
func (o *opener) credential(rec *store.Record, use keys.Use) (*keys.Credential, error) {
	k := openKey{rec.ID, rec.Version, string(use)}
	if c, ok := lookup(o.cache.creds, o.cache.prevCreds, k); ok {
		return c, nil
	}
	full, err := o.load(rec)
	if err != nil {
		return nil, err
	}
	c, err := full.Credential(use)
	if err != nil {
		return nil, err
	}
	o.cache.creds[k] = c
	return c, nil
}

// keyEntry opens rec's private-key entry (an mTLS client key).
func (o *opener) keyEntry(rec *store.Record) (*keys.Entry, error) {
	k := openKey{rec.ID, rec.Version, "entry"}
	if e, ok := lookup(o.cache.entries, o.cache.prevEntries, k); ok {
		return e, nil
	}
	full, err := o.load(rec)
	if err != nil {
		return nil, err
	}
	e, err := full.KeyEntry()
	if err != nil {
		return nil, err
	}
	o.cache.entries[k] = e
	return e, nil
}

// chain returns rec's public chain from its stored facts, parsed once per
// version; a record whose facts could not be stored gives nil.
func (o *opener) chain(rec *store.Record) []*x509.Certificate {
	k := openKey{rec.ID, rec.Version, "chain"}
	if c, ok := lookup(o.cache.chains, o.cache.prevChains, k); ok {
		return c
	}
	c := rec.Chain()
	o.cache.chains[k] = c
	return c
}

// trustCertificates returns a trust_store_cert record's certificates: its
// stored chain, or, for a record stored without facts, its opened content.
func (o *opener) trustCertificates(rec *store.Record) ([]*x509.Certificate, error) {
	if rec.Type != store.TypeTrustStoreCert {
		return nil, fmt.Errorf("certificate record %s (%q) is a %s, not a trust_store_cert", rec.ID, rec.Name, rec.Type)
	}
	if c := o.chain(rec); len(c) > 0 {
		return c, nil
	}
	full, err := o.load(rec)
	if err != nil {
		return nil, err
	}
	return full.TrustCertificates()
}

// idpDocument parses an IdP document once per content hash and signer.
func (o *opener) idpDocument(data []byte, signer *x509.Certificate, now time.Time) (*sp.IdPMetadata, error) {
	k := docKey{sum: sha256.Sum256(data)}
	if signer != nil {
		k.signer = keys.FingerprintSHA256(signer)
	}
	if r, ok := o.cache.docs[k]; ok {
		return r.md, r.err
	}
	// A previous build's refusal is not kept: it may depend on its time.
	if r, ok := o.cache.prevDocs()[k]; ok && r.err == nil {
		o.cache.docs[k] = r
		return r.md, nil
	}
	md, err := sp.ParseIdPMetadata(data, signer, now)
	o.cache.docs[k] = docResult{md, err}
	return md, err
}

// metadataFile reads an IdP metadata file, once per build and path, and
// not at all when its size and modification time are those of the
// previous build's read.
func (o *opener) metadataFile(path string) ([]byte, error) {
	if f, ok := o.cache.files[path]; ok {
		return f.data, f.err
	}
	fi, err := os.Stat(path)
	if err != nil {
		o.cache.files[path] = fileState{err: err}
		return nil, err
	}
	if o.cache.prev != nil {
		if f, ok := o.cache.prev.files[path]; ok && f.err == nil && f.size == fi.Size() && f.modTime.Equal(fi.ModTime()) {
			o.cache.files[path] = f
			return f.data, nil
		}
	}
	data, err := readMetadataFile(path)
	o.cache.files[path] = fileState{size: fi.Size(), modTime: fi.ModTime(), data: data, err: err}
	return data, err
}

// readMetadataFile reads an IdP metadata file, at most maxIdPMetadata bytes.
func readMetadataFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIdPMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("read IdP metadata %q: %w", path, err)
	}
	if len(data) > maxIdPMetadata {
		return nil, fmt.Errorf("IdP metadata %q is over %d bytes", path, maxIdPMetadata)
	}
	return data, nil
}
