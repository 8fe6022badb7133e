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
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
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
	urls    map[string][32]byte // fetched documents' hashes, this build only
	idps    map[entityKey]entityCerts
	certs   map[*x509.Certificate]Expiry // a parsed certificate's subject and fingerprint
	tokens  map[openKey]*pkcs11.Key      // pkcs11 records' token keys, one per (id, version)
}

// entityKey is one entity looked up in one document.
type entityKey struct {
	doc    docKey
	entity string
}

// entityCerts is an entity's signing certificates and their trust bound.
type entityCerts struct {
	certs []*x509.Certificate
	until time.Time
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
		chains: map[openKey][]*x509.Certificate{}, docs: map[docKey]docResult{}, files: map[string]fileState{}, urls: map[string][32]byte{}, idps: map[entityKey]entityCerts{}, certs: map[*x509.Certificate]Expiry{},
		tokens: map[openKey]*pkcs11.Key{}}
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

func (c *buildCache) prevIdPs() map[entityKey]entityCerts {
	if c.prev == nil {
		return nil
	}
	return c.prev.idps
}

func (c *buildCache) prevCerts() map[*x509.Certificate]Expiry {
	if c.prev == nil {
		return nil
	}
	return c.prev.certs
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
	module string // config pkcs11.module, for pkcs11 records
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
	if rec.Type == store.TypePKCS11 {
		return o.tokenCredential(rec, use) // through the token keys' cache (tokenkeys.go)
	}
	k := openKey{rec.ID, rec.Version, string(use)}
	c, ok := lookup(o.cache.creds, o.cache.prevCreds, k)
	if !ok {
		full, err := o.load(rec)
		if err != nil {
			return nil, err
		}
		c, err = keystoreCredential(full, use) // backend.go
		if err != nil {
			return nil, err
		}
		o.cache.creds[k] = c
	}
	// The cached credential is shared by every snapshot that opened this
	// version; each build gets its own copy to set Role and Unpublished on
	// (the key and chain inside stay shared and are never modified).
	cp := *c
	return &cp, nil
}

// keyEntry opens rec's private-key entry (an mTLS client key).
func (o *opener) keyEntry(rec *store.Record) (*keys.Entry, error) {
	if rec.Type == store.TypePKCS11 {
		return o.tokenEntry(rec) // the handshake signs through the token
	}
	k := openKey{rec.ID, rec.Version, "entry"}
	if e, ok := lookup(o.cache.entries, o.cache.prevEntries, k); ok {
		return e, nil
	}
	full, err := o.load(rec)
	if err != nil {
		return nil, err
	}
	e, err := keystoreEntry(full) // backend.go
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

// entity returns the signing certificates of entityID in an IdP document
// (whose SHA-256 is sum) and the time they stop being trusted: the
// document is parsed once per content hash and signer, the entity looked
// up once per document (its validity is checked at now every time).
func (o *opener) entity(data []byte, sum [32]byte, entityID string, signer *x509.Certificate, now time.Time) ([]*x509.Certificate, time.Time, error) {
	k := entityKey{docKey{sum: sum}, entityID}
	if signer != nil {
		k.doc.signer = keys.FingerprintSHA256(signer)
	}
	if e, ok := lookup(o.cache.idps, o.cache.prevIdPs, k); ok {
		if !e.until.IsZero() && !now.Before(e.until) {
			return nil, time.Time{}, fmt.Errorf("idp metadata expired at %s (validUntil); fetch a fresh copy: %w", e.until.Format(time.RFC3339), sp.ErrResponseIdPMetadata)
		}
		return e.certs, e.until, nil
	}
	md, err := o.idpDocument(data, k.doc, signer, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	certs, until, err := md.SigningCerts(entityID, now)
	if err == nil {
		o.cache.idps[k] = entityCerts{certs, until}
	}
	return certs, until, err
}

// idpDocument parses an IdP document once per content hash and signer.
func (o *opener) idpDocument(data []byte, k docKey, signer *x509.Certificate, now time.Time) (*sp.IdPMetadata, error) {
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

// metadataFile reads an IdP metadata file and hashes it, once per build
// and path, and not at all when its size and modification time are those
// of the previous build's read.
func (o *opener) metadataFile(path string) ([]byte, [32]byte, error) {
	if f, ok := o.cache.files[path]; ok {
		return f.data, f.sum, f.err
	}
	fi, err := os.Stat(path)
	if err != nil {
		o.cache.files[path] = fileState{err: err}
		return nil, [32]byte{}, err
	}
	if o.cache.prev != nil {
		if f, ok := o.cache.prev.files[path]; ok && f.err == nil && f.size == fi.Size() && f.modTime.Equal(fi.ModTime()) {
			o.cache.files[path] = f
			return f.data, f.sum, nil
		}
	}
	data, err := readMetadataFile(path)
	f := fileState{size: fi.Size(), modTime: fi.ModTime(), data: data, err: err}
	if err == nil {
		f.sum = sha256.Sum256(data)
	}
	o.cache.files[path] = f
	return f.data, f.sum, f.err
}

// fetchedSum hashes a fetched metadata_url document, once per build and
// URL.
func (o *opener) fetchedSum(url string, data []byte) [32]byte {
	if s, ok := o.cache.urls[url]; ok {
		return s
	}
	s := sha256.Sum256(data)
	o.cache.urls[url] = s
	return s
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

// certExpiry describes c for the expiry list, its subject and fingerprint
// computed once per parsed certificate.
func (o *opener) certExpiry(source, owner string, c *x509.Certificate) Expiry {
	e, ok := lookup(o.cache.certs, o.cache.prevCerts, c)
	if !ok {
		e = certExpiry("", "", c)
		o.cache.certs[c] = e
	}
	e.Source, e.Owner = source, owner
	return e
}
