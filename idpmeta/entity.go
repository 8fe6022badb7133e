package idpmeta

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	nsRPI      = "urn:oasis:names:tc:SAML:metadata:rpi"
	nsMDAttr   = "urn:oasis:names:tc:SAML:metadata:attribute"
	nsSAML     = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol = "urn:oasis:names:tc:SAML:2.0:protocol"

	// EntityCategoryAttr is the entity attribute whose values are entity
	// categories (REFEDS, GÉANT Data Protection Code of Conduct).
	EntityCategoryAttr = "http://macedir.org/entity-category"
)

// Endpoint is an SSO or SLO service of an IdP.
type Endpoint struct {
	Binding          string
	Location         string
	ResponseLocation string // SLO only; empty = Location
}

// Entity is one IdP of a federation source: what its EntityDescriptor's
// IDPSSODescriptor publishes. An Entity is immutable once indexed and safe
// for concurrent use.
type Entity struct {
	EntityID                string
	Source                  string // the idp_sources name it came from
	RegistrationAuthority   string
	EntityCategories        []string
	SSO, SLO                []Endpoint
	WantAuthnRequestsSigned bool
	SigningCertsDER         [][]byte  // KeyDescriptor use="signing" or no use
	ValidUntil              time.Time // the earliest validUntil over it (document, entity); zero = none

	once  sync.Once
	certs []*x509.Certificate
	cerr  error
}

// SigningCerts parses SigningCertsDER once (indexing keeps only the bytes,
// so that 10,000 entities cost no certificate parsing until one is used).
func (e *Entity) SigningCerts() ([]*x509.Certificate, error) {
	e.once.Do(func() {
		for _, der := range e.SigningCertsDER {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				e.cerr = fmt.Errorf("entity %q signing certificate: %w", e.EntityID, err)
				return
			}
			e.certs = append(e.certs, c)
		}
		if len(e.certs) == 0 {
			e.cerr = fmt.Errorf("entity %q has no signing certificate in its IDPSSODescriptor", e.EntityID)
		}
	})
	return e.certs, e.cerr
}

// EndpointFor returns the first endpoint of list with the given binding URI.
func EndpointFor(list []Endpoint, binding string) (Endpoint, bool) {
	i := slices.IndexFunc(list, func(e Endpoint) bool { return e.Binding == binding })
	if i < 0 {
		return Endpoint{}, false
	}
	return list[i], true
}

// Filter selects the entities of a source; empty fields select everything.
type Filter struct {
	EntityIDs             []string
	RegistrationAuthority []string
	EntityCategory        []string // any of
}

func (f Filter) match(e *Entity) bool {
	if len(f.EntityIDs) > 0 && !slices.Contains(f.EntityIDs, e.EntityID) {
		return false
	}
	if len(f.RegistrationAuthority) > 0 && !slices.Contains(f.RegistrationAuthority, e.RegistrationAuthority) {
		return false
	}
	if len(f.EntityCategory) > 0 && !slices.ContainsFunc(e.EntityCategories, func(c string) bool { return slices.Contains(f.EntityCategory, c) }) {
		return false
	}
	return true
}

// indexer is the consumer of a scan that collects IdP entities.
type indexer struct {
	now    time.Time
	source string
	filter Filter

	entities   map[string]*Entity
	skipped    int // expired, filtered out, duplicate, or without a usable IDPSSODescriptor
	certIntern map[string][]byte

	cur       *Entity
	at        int    // depth of the current EntityDescriptor
	isIdP     bool   // the entity has a SAML 2.0 IDPSSODescriptor
	inIDP     bool   // the scan is inside it
	ext       bool   // in md:Extensions
	eaName    string // Name of the saml:Attribute being read in mdattr:EntityAttributes
	inEA      bool
	signingKD bool
	collect   int // depth of the element whose text is being collected, -1 = none
	buf       []byte
	bad       bool // the entity has a malformed value
}

func newIndexer(now time.Time, source string, f Filter) *indexer {
	return &indexer{now: now, source: source, filter: f, entities: map[string]*Entity{}, certIntern: map[string][]byte{}, collect: -1}
}

func (x *indexer) start(depth int, space, local string, t *xml.StartElement) {
	if x.cur == nil {
		if space == nsMD && local == "EntityDescriptor" {
			x.cur = &Entity{EntityID: attr(*t, "entityID"), Source: x.source}
			x.at, x.isIdP, x.bad = depth, false, false
			x.validUntil(attr(*t, "validUntil"))
		}
		return
	}
	switch rel := depth - x.at; {
	case rel == 1:
		x.ext = space == nsMD && local == "Extensions"
		if space == nsMD && local == "IDPSSODescriptor" && strings.Contains(attr(*t, "protocolSupportEnumeration"), nsProtocol) {
			x.isIdP, x.inIDP = true, true
			x.cur.WantAuthnRequestsSigned = attr(*t, "WantAuthnRequestsSigned") == "true" || attr(*t, "WantAuthnRequestsSigned") == "1"
			x.validUntil(attr(*t, "validUntil"))
		}
	case rel == 2 && x.ext:
		x.inEA = space == nsMDAttr && local == "EntityAttributes"
		if space == nsRPI && local == "RegistrationInfo" {
			x.cur.RegistrationAuthority = attr(*t, "registrationAuthority")
		}
	case rel == 2 && x.inIDP && space == nsMD:
		switch local {
		case "SingleSignOnService":
			x.cur.SSO = append(x.cur.SSO, Endpoint{Binding: attr(*t, "Binding"), Location: attr(*t, "Location")})
		case "SingleLogoutService":
			x.cur.SLO = append(x.cur.SLO, Endpoint{Binding: attr(*t, "Binding"), Location: attr(*t, "Location"), ResponseLocation: attr(*t, "ResponseLocation")})
		case "KeyDescriptor":
			use := attr(*t, "use")
			x.signingKD = use == "" || use == "signing"
		}
	case rel == 3 && x.inEA && space == nsSAML && local == "Attribute":
		x.eaName = attr(*t, "Name")
	case rel == 4 && x.inEA && x.eaName == EntityCategoryAttr && space == nsSAML && local == "AttributeValue",
		rel == 5 && x.inIDP && x.signingKD && space == nsDSig && local == "X509Certificate":
		x.collect, x.buf = depth, x.buf[:0]
	}
}

func (x *indexer) text(b []byte) {
	if x.collect >= 0 {
		x.buf = append(x.buf, b...)
	}
}

func (x *indexer) end(depth int) {
	if x.cur == nil {
		return
	}
	if depth == x.collect {
		x.collect = -1
		if rel := depth - x.at; rel == 4 {
			x.cur.EntityCategories = append(x.cur.EntityCategories, strings.TrimSpace(string(x.buf)))
		} else {
			x.cert()
		}
	}
	switch rel := depth - x.at; rel {
	case 0:
		x.finish()
	case 1:
		x.ext, x.inIDP = false, false
	case 2:
		x.inEA, x.signingKD = false, false
	case 3:
		x.eaName = ""
	}
}

// cert decodes the collected X509Certificate, sharing the bytes of
// certificates seen before (a federation reuses few signing keys per
// operator).
func (x *indexer) cert() {
	b64 := stripSpaceBytes(x.buf)
	if c, ok := x.certIntern[string(b64)]; ok {
		x.cur.SigningCertsDER = append(x.cur.SigningCertsDER, c)
		return
	}
	der := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(der, b64)
	if err != nil {
		x.bad = true
		return
	}
	der = der[:n:n]
	x.certIntern[string(b64)] = der
	x.cur.SigningCertsDER = append(x.cur.SigningCertsDER, der)
}

func (x *indexer) validUntil(s string) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		x.bad = true
		return
	}
	if x.cur.ValidUntil.IsZero() || t.Before(x.cur.ValidUntil) {
		x.cur.ValidUntil = t
	}
}

func (x *indexer) finish() {
	e := x.cur
	x.cur, x.ext, x.inEA, x.inIDP, x.signingKD = nil, false, false, false, false
	usable := x.isIdP && len(e.SSO) > 0 && !x.bad && e.EntityID != "" && len(e.SigningCertsDER) > 0
	if !usable || !e.ValidUntil.IsZero() && !x.now.Before(e.ValidUntil) || !x.filter.match(e) {
		x.skipped++
		return
	}
	if _, dup := x.entities[e.EntityID]; dup {
		x.skipped++
		return
	}
	x.entities[e.EntityID] = e
}

func stripSpaceBytes(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			out = append(out, c)
		}
	}
	return out
}
