// Package metadata owns the SP's published face: the SAML metadata
// (EntityDescriptor) rendered from one KeySet, its optional enveloped XML
// signature, the PEM and DER export of the published certificates, the JSON
// certificate index, and the HTTP handlers that serve them with strong ETags
// and cache headers. Everything is rendered once per snapshot by Build; the
// handlers only write precomputed bytes. It never reaches into the store.
package metadata

import (
	"errors"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// Defaults applied when the config leaves a metadata duration zero.
const (
	DefaultValidFor      = 48 * time.Hour
	DefaultCacheDuration = 24 * time.Hour
)

// ContentType is the media type of SAML metadata (RFC 7580 / SAML errata).
const ContentType = "application/samlmetadata+xml"

// Errors callers branch on. They are wrapped with the field or record.
var (
	// ErrInvalidInput: the SP config or key set cannot make valid metadata.
	ErrInvalidInput = errors.New("invalid metadata input")
	// ErrExpired: a published certificate is not valid at Input.Now.
	ErrExpired = errors.New("published certificate not valid now")
	// ErrSign: the metadata signature could not be made.
	ErrSign = errors.New("sign metadata")
)

// Input is everything one rendering of the metadata depends on.
type Input struct {
	// SP holds the entity id, endpoints, NameID formats, want-assertions-signed,
	// the metadata settings (valid_for, cache_duration, signed,
	// signature_algorithm), the organization and contacts.
	SP config.SP
	// AuthnRequestsSigned is true when any IdP record has Sign AuthnRequest on.
	AuthnRequestsSigned bool
	// Keys holds the Signing and Encryption credentials, each list current
	// first, then next, then previous. Every listed credential is published.
	Keys *keys.KeySet
	// EncryptionMethods are the algorithm URIs the daemon can decrypt; each
	// becomes an EncryptionMethod of every encryption KeyDescriptor.
	EncryptionMethods []string
	// Now is the rendering time; zero means time.Now().
	Now time.Time
}

// Published is one immutable rendering: the metadata bytes, their ETag and
// lifetimes, the PEM and DER certificate files and the JSON certificate
// index. Build makes it; nothing modifies it afterwards, so any number of
// goroutines may read it. Accessors that return byte slices return copies.
type Published struct {
	entityID   string
	builtAt    time.Time
	validUntil time.Time
	refreshAt  time.Time
	maxAge     time.Duration
	signed     bool
	warnings   []string

	metadata asset
	index    asset
	files    map[string]*asset // "signing.pem", "<sha256>.crt", ...
	certs    []CertInfo
}

// EntityID returns the SP entity id the metadata describes.
func (p *Published) EntityID() string { return p.entityID }

// BuiltAt returns the Input.Now the rendering was made at.
func (p *Published) BuiltAt() time.Time { return p.builtAt }

// ValidUntil returns the metadata's validUntil: the earlier of
// Now+valid_for and the earliest not-after of a published certificate.
func (p *Published) ValidUntil() time.Time { return p.validUntil }

// RefreshAt returns when the owner must call Build again so that served
// metadata never lapses: halfway between BuiltAt and ValidUntil.
func (p *Published) RefreshAt() time.Time { return p.refreshAt }

// CacheMaxAge returns the max-age the HTTP handlers send: the configured
// cache duration, capped so a cache never holds the metadata past validUntil.
func (p *Published) CacheMaxAge() time.Duration { return p.maxAge }

// Signed reports whether the metadata carries an XML signature.
func (p *Published) Signed() bool { return p.signed }

// Warnings returns things the owner should log about this rendering, such
// as a deprecated signature algorithm set explicitly.
func (p *Published) Warnings() []string { return append([]string(nil), p.warnings...) }

// Metadata returns a copy of the metadata XML.
func (p *Published) Metadata() []byte { return clone(p.metadata.body) }

// ETag returns the metadata's strong ETag, quotes included.
func (p *Published) ETag() string { return p.metadata.etag }

// CertsJSON returns a copy of the JSON certificate index served at /saml/certs.
func (p *Published) CertsJSON() []byte { return clone(p.index.body) }

// Certificates returns the published certificates, signing ones first, each
// use current first.
func (p *Published) Certificates() []CertInfo { return append([]CertInfo(nil), p.certs...) }

// PEM returns the PEM file of use u: every published certificate of that
// use, current first. It returns nil when u has no published certificate.
func (p *Published) PEM(u keys.Use) []byte { return p.file(string(u) + ".pem") }

// DER returns the DER bytes of the first (current) published certificate
// of use u, or nil.
func (p *Published) DER(u keys.Use) []byte { return p.file(string(u) + ".crt") }

func (p *Published) file(name string) []byte {
	a := p.files[name]
	if a == nil {
		return nil
	}
	return clone(a.body)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
