package sp

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// Size caps applied before any parsing.
const (
	MaxResponseBase64   = 2 << 20 // bytes of the SAMLResponse as posted (base64)
	MaxResponseXML      = 1 << 20 // bytes of the decoded (or inflated) XML
	DefaultClockSkew    = 3 * time.Minute
	defaultReplayMax    = 100_000
	nsSAMLP             = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsSAML              = "urn:oasis:names:tc:SAML:2.0:assertion"
	statusSuccess       = "urn:oasis:names:tc:SAML:2.0:status:Success"
	bearerConfirmMethod = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// The checks a ResponseError names; the HTTP API returns the check as
// {"error": check}.
const (
	CheckMalformed          = "malformed"           // not base64, too big, not well-formed or unstable XML, DOCTYPE, not a Response
	CheckUnknownIdP         = "unknown_idp"         // no IdP record with that name
	CheckIssuer             = "issuer"              // Issuer is not the IdP record's entity id
	CheckStatus             = "status"              // StatusCode is not Success
	CheckDestination        = "destination"         // Destination / Recipient is not one of our ACS URLs
	CheckInResponseTo       = "in_response_to"      // not the request id the application passed
	CheckSignature          = "signature"           // missing where required, or does not verify with the IdP's certificates
	CheckMultipleAssertions = "multiple_assertions" // more or fewer than one assertion (CVE-2022-41912)
	CheckUnencrypted        = "unencrypted"         // a plain Assertion from an IdP with Encrypt Assertion on
	CheckDecrypt            = "decrypt"             // no decryption key opens it, or the algorithm is refused
	CheckAudience           = "audience"            // AudienceRestriction without our entity id
	CheckExpired            = "expired"             // NotOnOrAfter (+ skew) passed
	CheckNotYetValid        = "not_yet_valid"       // NotBefore (- skew) not reached
	CheckReplay             = "replay"              // assertion ID seen before within its validity
	CheckSubject            = "subject"             // no NameID, or no bearer SubjectConfirmation
)

// ResponseError is a refused response: Check names the failed check (one
// of the Check constants), Err says why.
type ResponseError struct {
	Check string
	Err   error
}

func (e *ResponseError) Error() string { return "saml response: " + e.Check + ": " + e.Err.Error() }
func (e *ResponseError) Unwrap() error { return e.Err }

func refuse(check string, format string, args ...any) *ResponseError {
	return &ResponseError{Check: check, Err: fmt.Errorf(format, args...)}
}

// ErrResponseReplayCacheFull is returned when the in-memory replay cache
// holds its maximum of unexpired assertion IDs.
var ErrResponseReplayCacheFull = errors.New("replay cache full")

// ReplayCache remembers assertion IDs until they expire. Implementations
// MUST be safe for concurrent use; several replicas need a shared one.
type ReplayCache interface {
	// Record stores key until expires and reports whether key was already
	// stored and not yet expired at now.
	Record(ctx context.Context, key string, expires, now time.Time) (seen bool, err error)
}

// ResponseSettings configure a ResponseValidator. It is built once per
// snapshot, like Service.
type ResponseSettings struct {
	EntityID string   // our entity id: the Audience every assertion must name
	ACSURLs  []string // our ACS locations: Destination and Recipient must be one of them
	// SLOURLs are our single logout locations and response locations: the
	// Destination of a logout message (VerifyLogout) must be one of them.
	SLOURLs []string
	// Decryption holds the encryption credentials of the snapshot: current,
	// next (while published), previous (inside retire_after). An
	// EncryptedKey naming a recipient certificate is opened with the
	// matching credential only; one naming none is tried with each.
	Decryption []*keys.Credential
	IdPs       []ResponseIdP
	AllowRSA15 bool // accept rsa-1_5 key transport (deprecated: logged as a warning at each use)
	ClockSkew  time.Duration
	Now        func() time.Time // nil = time.Now
	Rand       io.Reader        // nil = crypto/rand (RSA blinding)
	Logger     *slog.Logger     // nil = discard
	Replay     ReplayCache      // nil = in-memory, bounded, entries expire at the assertion's NotOnOrAfter
	// Limits bound the structure of responses and decrypted assertions
	// (CheckStructure); zero fields take DefaultLimits.
	Limits Limits
	// RefuseCBC refuses CBC content encryption for every IdP (allow_cbc:
	// false); ResponseIdP.RefuseCBC refuses it for one.
	RefuseCBC bool
	// OnDeprecatedSignature, if set, is called with the IdP name and the
	// algorithm URI each time a SHA-1 signature or digest of an IdP with
	// AllowSHA1 verifies.
	OnDeprecatedSignature func(idp, algURI string)
	// OnDeprecatedEncryption, if set, is called with the IdP name and the
	// algorithm URI on each use of a CBC content encryption algorithm.
	OnDeprecatedEncryption func(idp, algURI string)
}

// ResponseIdP is what a validator knows about one IdP.
type ResponseIdP struct {
	Name, EntityID      string
	SigningCerts        []*x509.Certificate
	EncryptAssertion    bool // refuse a plain Assertion
	WantResponseSigned  bool // the Response element must carry a valid signature
	WantAssertionSigned bool // the Assertion element must carry a valid signature
	RefuseCBC           bool // refuse CBC content encryption (allow_cbc: false)
	AllowSHA1           bool // accept rsa-sha1 and sha1 digests in its signatures, with a warning at each use
	// AllowUnsignedLogout accepts its LogoutRequests and LogoutResponses
	// unsigned (want_logout_signed: false); a signature present is still
	// verified.
	AllowUnsignedLogout bool
}

// Assertion is what a verified response says about the user.
type Assertion struct {
	NameID       string              `json:"name_id"`
	NameIDFormat string              `json:"name_id_format,omitempty"`
	SessionIndex string              `json:"session_index,omitempty"`
	Attributes   map[string][]string `json:"attributes"`
	NotOnOrAfter time.Time           `json:"not_on_or_after"`
	Issuer       string              `json:"issuer"`
}

// ResponseValidator decrypts and validates SAML Responses. It is immutable
// and safe for concurrent use.
type ResponseValidator struct {
	s    ResponseSettings
	log  *slog.Logger
	now  func() time.Time
	idps map[string]ResponseIdP
	dec  *decrypter
}

// NewResponseValidator checks s and returns a validator.
func NewResponseValidator(s ResponseSettings) (*ResponseValidator, error) {
	if s.EntityID == "" {
		return nil, errors.New("response settings: entity id is empty")
	}
	if len(s.ACSURLs) == 0 {
		return nil, errors.New("response settings: no ACS URL")
	}
	if s.ClockSkew < 0 {
		return nil, fmt.Errorf("response settings: clock skew %s is negative", s.ClockSkew)
	}
	if s.ClockSkew == 0 {
		s.ClockSkew = DefaultClockSkew
	}
	v := &ResponseValidator{s: s, log: s.Logger, now: s.Now, idps: map[string]ResponseIdP{}}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.s.Replay == nil {
		v.s.Replay = NewMemoryReplayCache(defaultReplayMax)
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	v.s.Limits = s.Limits.WithDefaults(DefaultLimits())
	v.dec = &decrypter{allowRSA15: s.AllowRSA15, rand: rnd, warn: v.log.Warn, limits: v.s.Limits, onCBC: s.OnDeprecatedEncryption}
	for i, c := range s.Decryption {
		if c == nil || len(c.Chain) == 0 || c.Signer == nil {
			return nil, fmt.Errorf("response settings: decryption credential %d has no key or certificate", i)
		}
		d, ok := c.Signer.(crypto.Decrypter)
		if !ok {
			return nil, fmt.Errorf("response settings: decryption credential %q (%s) cannot decrypt: use an RSA key", c.RecordName, c.Role)
		}
		if err := fips.Key(c.Signer.Public()); err != nil {
			return nil, fmt.Errorf("response settings: decryption credential %q (%s): %w", c.RecordName, c.Role, err)
		}
		v.dec.creds = append(v.dec.creds, decryptionKey{name: c.RecordName + " (" + string(c.Role) + ")", cert: c.Leaf(), key: d})
	}
	for _, p := range s.IdPs {
		switch {
		case p.Name == "":
			return nil, errors.New("response settings: an IdP has no name")
		case p.EntityID == "":
			return nil, fmt.Errorf("response settings: idp %q: entity id is empty", p.Name)
		case len(p.SigningCerts) == 0:
			return nil, fmt.Errorf("response settings: idp %q: no signing certificate (set signing_certs or metadata_file)", p.Name)
		}
		if _, dup := v.idps[p.Name]; dup {
			return nil, fmt.Errorf("response settings: idp %q listed twice", p.Name)
		}
		if p.EncryptAssertion && len(v.dec.creds) == 0 {
			return nil, fmt.Errorf("response settings: idp %q has Encrypt Assertion on but there is no encryption key", p.Name)
		}
		v.idps[p.Name] = p
	}
	return v, nil
}

// Verify decodes samlResponseB64 (the SAMLResponse form value as posted:
// base64, optionally of raw DEFLATE), decrypts and validates it for the
// IdP record named idp, and returns its assertion. requestID, when not
// empty, must equal the Response's and the SubjectConfirmation's
// InResponseTo. Every refusal is a *ResponseError.
func (v *ResponseValidator) Verify(ctx context.Context, idp string, samlResponseB64 string, requestID string) (*Assertion, error) {
	p, ok := v.idps[idp]
	if !ok {
		return nil, refuse(CheckUnknownIdP, "no idp record %q", idp)
	}
	raw, err := decodeResponse(samlResponseB64)
	if err != nil {
		return nil, &ResponseError{Check: CheckMalformed, Err: err}
	}
	doc, err := parseXML(raw, v.s.Limits)
	var se *StructureError
	if errors.As(err, &se) {
		return nil, refuse(CheckMalformed, "%w (raise sp.limits.%s only if a real IdP sends such responses)", err, se.Limit)
	}
	if err != nil {
		return nil, &ResponseError{Check: CheckMalformed, Err: err}
	}
	now := v.now()
	a, err := v.verify(ctx, p, doc.Root(), requestID, now)
	if err != nil {
		var re *ResponseError
		if !errors.As(err, &re) {
			err = &ResponseError{Check: CheckMalformed, Err: err}
		}
		return nil, err
	}
	return a, nil
}

func (v *ResponseValidator) verify(ctx context.Context, p ResponseIdP, resp *etree.Element, requestID string, now time.Time) (*Assertion, error) {
	if resp.Tag != "Response" || resp.NamespaceURI() != nsSAMLP {
		return nil, refuse(CheckMalformed, "root element is %s, want samlp:Response", resp.FullTag())
	}
	if ver := resp.SelectAttrValue("Version", ""); ver != "2.0" {
		return nil, refuse(CheckMalformed, "Response Version %q, want 2.0", ver)
	}
	responseSigned := false
	if childNS(resp, nsDSig, "Signature") != nil {
		verified, err := v.verifySignature(p, resp, now)
		if err != nil {
			return nil, refuse(CheckSignature, "Response: %w", err)
		}
		resp, responseSigned = verified, true
	} else if p.WantResponseSigned {
		return nil, refuse(CheckSignature, "Response is not signed; idp %q requires a signed Response", p.Name)
	}
	if iss := childNS(resp, nsSAML, "Issuer"); iss != nil && strings.TrimSpace(iss.Text()) != p.EntityID {
		return nil, refuse(CheckIssuer, "Response Issuer %q is not idp %q's entity id %q", iss.Text(), p.Name, p.EntityID)
	}
	dest := resp.SelectAttrValue("Destination", "")
	if (dest != "" || responseSigned) && !slices.Contains(v.s.ACSURLs, dest) {
		return nil, refuse(CheckDestination, "Response Destination %q is not one of our ACS URLs %q", dest, v.s.ACSURLs)
	}
	if irt := resp.SelectAttrValue("InResponseTo", ""); requestID != "" && irt != requestID {
		return nil, refuse(CheckInResponseTo, "Response InResponseTo %q is not request id %q", irt, requestID)
	}
	if code := statusCode(resp); code != statusSuccess {
		return nil, refuse(CheckStatus, "Response StatusCode is %q", code)
	}

	encs := childrenNS(resp, nsSAML, "EncryptedAssertion")
	plains := childrenNS(resp, nsSAML, "Assertion")
	if n := len(encs) + len(plains); n != 1 {
		return nil, refuse(CheckMultipleAssertions, "Response holds %d assertions; exactly one is accepted", n)
	}
	dec := v.dec.forIdP(p.Name, v.s.RefuseCBC || p.RefuseCBC)
	var assertion *etree.Element
	var err error
	if len(encs) == 1 {
		assertion, err = v.openAssertion(p, dec, encs[0], responseSigned, now)
	} else {
		if p.EncryptAssertion {
			return nil, refuse(CheckUnencrypted, "idp %q has Encrypt Assertion on but the assertion is not encrypted", p.Name)
		}
		// Detach the assertion with the namespaces it inherits, so its
		// signature verifies on its own.
		assertion, err = v.assertionSigned(p, detach(plains[0]), responseSigned, now)
	}
	if err != nil {
		return nil, err
	}
	a, id, err := v.readAssertion(p, dec, assertion, requestID, now)
	if err != nil {
		return nil, err
	}
	seen, err := v.s.Replay.Record(ctx, p.Name+"\x00"+id, a.NotOnOrAfter.Add(v.s.ClockSkew), now)
	if err != nil {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if seen {
		return nil, refuse(CheckReplay, "assertion %q from idp %q was already used", id, p.Name)
	}
	return a, nil
}

// verifySignature verifies the enveloped signature that is el's child with
// the IdP's certificates and returns the element as signed (so that
// nothing outside the signature is read afterwards).
func (v *ResponseValidator) verifySignature(p ResponseIdP, el *etree.Element, now time.Time) (*etree.Element, error) {
	vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: p.SigningCerts})
	vc.IdAttribute = "ID"
	vc.Clock = dsig.NewFakeClockAt(now)
	// KeyInfo may name a key we do not know; drop a KeyInfo without an
	// X509Certificate so that goxmldsig tries the configured certificates.
	// el is this request's own tree (or a copy of part of it), and only
	// the copy Validate returns is read after a signature is verified, so
	// it is changed in place rather than copied once more.
	if sig := childNS(el, nsDSig, "Signature"); sig != nil {
		if ki := childNS(sig, nsDSig, "KeyInfo"); ki != nil && childNS(childNS(ki, nsDSig, "X509Data"), nsDSig, "X509Certificate") == nil {
			sig.RemoveChild(ki)
		}
	}
	sha1 := sha1Use(el)
	if err := fipsSignatureRefusal(sha1); sha1 != "" && err != nil {
		return nil, fmt.Errorf("signed with %w", err)
	}
	if sha1 != "" && !p.AllowSHA1 {
		return nil, fmt.Errorf("signed with %s (SHA-1): refused; set allow_sha1: true on idp %q only while it cannot sign with rsa-sha256", sha1, p.Name)
	}
	verified, err := vc.Validate(el)
	if err != nil {
		return nil, err
	}
	if sha1 != "" {
		v.log.Warn("deprecated SHA-1 in an IdP signature: ask the IdP to sign with rsa-sha256", "idp", p.Name, "algorithm", sha1)
		if v.s.OnDeprecatedSignature != nil {
			v.s.OnDeprecatedSignature(p.Name, sha1)
		}
	}
	return verified, nil
}

// detach returns a copy of child (a descendant of the document) that
// declares the namespaces it inherits. It replaces etreeutils.NSDetatch,
// whose traversal limit refuses an assertion of more than 1,000 elements;
// CheckStructure has bounded the document already.
func detach(child *etree.Element) *etree.Element {
	inherited := map[string]string{}
	for p := child.Parent(); p != nil; p = p.Parent() {
		for _, a := range p.Attr {
			if prefix, ok := xmlnsPrefix(a); ok {
				if _, nearer := inherited[prefix]; !nearer {
					inherited[prefix] = a.Value
				}
			}
		}
	}
	el := child.Copy()
	for _, a := range el.Attr {
		if prefix, ok := xmlnsPrefix(a); ok {
			delete(inherited, prefix)
		}
	}
	for _, prefix := range slices.Sorted(maps.Keys(inherited)) {
		if prefix == "" {
			el.CreateAttr("xmlns", inherited[prefix])
		} else {
			el.CreateAttr("xmlns:"+prefix, inherited[prefix])
		}
	}
	return el
}

func xmlnsPrefix(a etree.Attr) (string, bool) {
	switch {
	case a.Space == "xmlns":
		return a.Key, true
	case a.Space == "" && a.Key == "xmlns":
		return "", true
	}
	return "", false
}

func statusCode(resp *etree.Element) string {
	sc := childNS(childNS(resp, nsSAMLP, "Status"), nsSAMLP, "StatusCode")
	if sc == nil {
		return ""
	}
	return sc.SelectAttrValue("Value", "")
}

// decodeResponse undoes the POST binding's base64 (whitespace allowed) and
// a raw DEFLATE some IdPs add, within the size caps.
func decodeResponse(b64 string) ([]byte, error) {
	if len(b64) > MaxResponseBase64 {
		return nil, fmt.Errorf("SAMLResponse is %d bytes of base64, over the %d-byte cap", len(b64), MaxResponseBase64)
	}
	b64 = stripSpace(b64)
	if b64 == "" {
		return nil, errors.New("SAMLResponse is empty")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("SAMLResponse is not base64: %w", err)
	}
	if len(raw) > MaxResponseXML {
		return nil, fmt.Errorf("SAMLResponse decodes to %d bytes, over the %d-byte cap", len(raw), MaxResponseXML)
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return raw, nil
	}
	// Not XML: try raw DEFLATE, reading at most one byte past the cap.
	inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), MaxResponseXML+1))
	if err != nil {
		return nil, fmt.Errorf("SAMLResponse is neither XML nor DEFLATE: %w", err)
	}
	if len(inflated) > MaxResponseXML {
		return nil, fmt.Errorf("SAMLResponse inflates to more than the %d-byte cap", MaxResponseXML)
	}
	return inflated, nil
}
