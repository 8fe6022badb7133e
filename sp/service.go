// Package sp owns the SAML protocol work the service provider does with its
// keys: the registry of XML-DSig signature algorithms, and AuthnRequest,
// LogoutRequest and LogoutResponse messages for the HTTP-Redirect binding
// (DEFLATE, base64, a query signature over the exact octets of the bindings
// spec, section 3.4.4.1) and the HTTP-POST binding (an enveloped XML
// signature placed after Issuer, and an auto-submitting HTML form that works
// under a strict Content-Security-Policy). Validating and decrypting the
// IdP's responses lives here too (ResponseValidator, response.go and
// decrypt.go), and so does verifying protocol messages as a binding
// delivered them (VerifyRedirect over the query octets as received,
// VerifyPOST for an enveloped signature; received.go), and the IdP's
// LogoutRequests and LogoutResponses with every check single logout needs
// (ResponseValidator.VerifyLogout, logout_verify.go). It does not serve
// HTTP.
//
// A Service is built once per snapshot with New, which validates every
// endpoint, binding and algorithm so that a request can only fail for bad
// request input. A Service is immutable and safe for concurrent use.
package sp

import (
	"compress/flate"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// Errors callers branch on; the API maps the first three to 4xx answers.
var (
	ErrUnknownIdP  = errors.New("unknown idp")
	ErrBadBinding  = errors.New("bad binding")
	ErrBadRequest  = errors.New("bad request")
	ErrBadSettings = errors.New("bad sp settings")
)

// IsBadRequest reports whether err was caused by the request's input
// (ErrUnknownIdP, ErrBadBinding or ErrBadRequest): the API answers it with
// a 4xx and err's text, which never holds key material. Any other error
// from AuthnRequest or LogoutRequest is the daemon's fault (a 5xx).
func IsBadRequest(err error) bool {
	return errors.Is(err, ErrBadRequest) || errors.Is(err, ErrBadBinding) || errors.Is(err, ErrUnknownIdP)
}

// The SAML binding URNs, and the short names requests and config use.
const (
	BindingRedirectURN = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOSTURN     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	BindingRedirect    = "redirect"
	BindingPOST        = "post"
)

// MaxRelayState is the longest RelayState, in bytes, the bindings allow.
const MaxRelayState = 80

// Settings is what a Service is built from: the SP's own entity id and
// assertion consumer services, the IdP records, and the current signing
// credential.
type Settings struct {
	EntityID string
	ACS      []config.Endpoint
	IdPs     []config.IdP

	// Signing is the current signing credential. During a rollover the
	// next key is only published, never signs: pass the current one. It may
	// be nil when no IdP has Sign AuthnRequest or Sign LogoutRequest on.
	Signing *keys.Credential

	Rand   io.Reader        // nil: crypto/rand; must be safe for concurrent use
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard

	// OnDeprecated, if set, is called on every use of a deprecated
	// algorithm (rsa-sha1) with the IdP name and the algorithm URI.
	OnDeprecated func(idp, algURI string)
}

// Service signs AuthnRequest, LogoutRequest and LogoutResponse messages for
// one snapshot.
type Service struct {
	entityID     string
	acs          []config.Endpoint
	defaultACS   *config.Endpoint
	idps         map[string]*idp
	signer       crypto.Signer
	cert         []byte // DER of the signing certificate, for KeyInfo
	rand         io.Reader
	now          func() time.Time
	log          *slog.Logger
	onDeprecated func(idp, algURI string)
	flaters      sync.Pool // *flate.Writer, reset per message
}

// idp is one validated IdP record.
type idp struct {
	name           string
	sso, slo       endpoint // slo.location is "" when the IdP has no SLO endpoint
	alg            Algorithm
	digest         DigestAlgorithm
	signAuthn      bool
	signLogout     bool
	signLogoutResp bool   // sign_logout_response (default: sign_logout_request)
	formOrigin     string // for the CSP form-action of the POST form
	sloOrigin      string
	sloRespOrigin  string // of slo.responseLocation; "" = sloOrigin
}

type endpoint struct {
	binding          string // BindingRedirect or BindingPOST
	location         string
	responseLocation string // where responses go; "" = location
}

// responseDestination is where a response to this endpoint goes.
func (e endpoint) responseDestination() string {
	if e.responseLocation != "" {
		return e.responseLocation
	}
	return e.location
}

// New validates s and builds a Service. Every problem a request could
// otherwise meet later is found here and is ErrBadSettings: IdP endpoints
// that are not https (http only with allow_http), unknown bindings, unknown
// algorithms, an algorithm that does not fit the signing key, a signing
// credential that is missing or whose certificate does not match its key.
// rsa-sha1 is accepted only when configured by name, and logged as a
// warning here and on every use; in FIPS 140-3 mode it, a sha1 digest and
// an RSA signing key under 2048 bits are ErrBadSettings (keys/fips).
func New(s Settings) (*Service, error) {
	svc := &Service{
		entityID:     s.EntityID,
		idps:         make(map[string]*idp, len(s.IdPs)),
		rand:         s.Rand,
		now:          s.Now,
		log:          s.Logger,
		onDeprecated: s.OnDeprecated,
	}
	if svc.now == nil {
		svc.now = time.Now
	}
	if svc.log == nil {
		svc.log = slog.New(slog.DiscardHandler)
	}
	svc.flaters.New = func() any {
		w, _ := flate.NewWriter(io.Discard, flate.BestSpeed) // only fails for a bad level
		return w
	}
	if strings.TrimSpace(s.EntityID) == "" {
		return nil, fmt.Errorf("%w: sp entity_id is empty", ErrBadSettings)
	}
	if err := svc.setACS(s.ACS); err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	if c := s.Signing; c != nil {
		p, err := checkCredential(c)
		if err != nil {
			return nil, err
		}
		pub, svc.signer, svc.cert = p, c.Signer, c.Chain[0].Raw
	}
	for i := range s.IdPs {
		p, err := newIdP(&s.IdPs[i], pub)
		if err != nil {
			return nil, err
		}
		if _, dup := svc.idps[p.name]; dup {
			return nil, fmt.Errorf("%w: idp %q is configured twice: give each idp its own name", ErrBadSettings, p.name)
		}
		svc.idps[p.name] = p
		if p.alg.Deprecated && (p.signAuthn || p.signLogout || p.signLogoutResp) {
			svc.log.Warn("deprecated signature algorithm configured", "idp", p.name, "algorithm", p.alg.URI,
				"fix", "switch signature_algorithm to rsa-sha256 once the IdP accepts it")
		}
		if p.digest.Deprecated && (p.signAuthn || p.signLogout || p.signLogoutResp) {
			svc.log.Warn("deprecated digest algorithm configured", "idp", p.name, "digest", p.digest.URI)
		}
	}
	return svc, nil
}

func checkCredential(c *keys.Credential) (crypto.PublicKey, error) {
	if c.Signer == nil || len(c.Chain) == 0 || c.Chain[0] == nil {
		return nil, fmt.Errorf("%w: signing credential %q has no key or no certificate", ErrBadSettings, c.RecordName)
	}
	if c.Role != "" && c.Role != keys.RoleCurrent {
		return nil, fmt.Errorf("%w: signing credential %q is the %s key: only the current key signs", ErrBadSettings, c.RecordName, c.Role)
	}
	pub := c.Signer.Public()
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if k, ok := pub.(equaler); !ok || !k.Equal(c.Chain[0].PublicKey) {
		return nil, fmt.Errorf("%w: signing credential %q: the certificate does not match the private key", ErrBadSettings, c.RecordName)
	}
	switch c.Chain[0].PublicKeyAlgorithm {
	case x509.RSA, x509.ECDSA:
	default:
		return nil, fmt.Errorf("%w: signing credential %q: %s keys cannot sign SAML messages, use RSA or EC", ErrBadSettings, c.RecordName, c.Chain[0].PublicKeyAlgorithm)
	}
	if err := fips.Key(pub); err != nil {
		return nil, fmt.Errorf("%w: signing credential %q: %w", ErrBadSettings, c.RecordName, err)
	}
	return pub, nil
}

func (svc *Service) setACS(acs []config.Endpoint) error {
	svc.acs = make([]config.Endpoint, len(acs))
	for i, e := range acs {
		b, err := bindingName(e.Binding)
		if err != nil {
			return fmt.Errorf("%w: sp acs[%d]: %w", ErrBadSettings, i, err)
		}
		if _, err := checkLocation(e.Location, true); err != nil {
			return fmt.Errorf("%w: sp acs[%d]: %w", ErrBadSettings, i, err)
		}
		e.Binding = b
		svc.acs[i] = e
	}
	for i := range svc.acs {
		if svc.acs[i].Default {
			svc.defaultACS = &svc.acs[i]
			break
		}
	}
	if svc.defaultACS == nil && len(svc.acs) > 0 {
		svc.defaultACS = &svc.acs[0]
	}
	return nil
}

func newIdP(c *config.IdP, pub crypto.PublicKey) (*idp, error) {
	if strings.TrimSpace(c.Name) == "" {
		return nil, fmt.Errorf("%w: an idp has no name", ErrBadSettings)
	}
	p := &idp{name: c.Name, signAuthn: c.SignAuthnRequest, signLogout: c.SignLogoutRequest, signLogoutResp: c.SignsLogoutResponse()}
	var err error
	if p.sso, p.formOrigin, err = newEndpoint(c.SSO, c.AllowHTTP); err != nil {
		return nil, fmt.Errorf("%w: idp %q sso: %w", ErrBadSettings, c.Name, err)
	}
	if c.SLO.Location != "" || c.SLO.Binding != "" {
		if p.slo, p.sloOrigin, err = newEndpoint(c.SLO, c.AllowHTTP); err != nil {
			return nil, fmt.Errorf("%w: idp %q slo: %w", ErrBadSettings, c.Name, err)
		}
		if r := c.SLO.ResponseLocation; r != "" {
			u, err := checkLocation(r, c.AllowHTTP)
			if err != nil {
				return nil, fmt.Errorf("%w: idp %q slo response_location: %w", ErrBadSettings, c.Name, err)
			}
			p.slo.responseLocation, p.sloRespOrigin = r, u.Scheme+"://"+u.Host
		}
	}
	signs := c.SignAuthnRequest || c.SignLogoutRequest || p.signLogoutResp
	if signs && pub == nil {
		return nil, fmt.Errorf("%w: idp %q signs requests but there is no current signing key: set the signing keystore property", ErrBadSettings, c.Name)
	}
	switch {
	case c.SignatureAlgorithm != "":
		if p.alg, err = LookupAlgorithm(c.SignatureAlgorithm); err != nil {
			return nil, fmt.Errorf("%w: idp %q signature_algorithm: %w", ErrBadSettings, c.Name, err)
		}
	case pub != nil:
		p.alg = DefaultAlgorithm(pub)
	default:
		p.alg, _ = LookupAlgorithm(RSASHA256)
	}
	if err := fips.Algorithm(p.alg.URI); err != nil {
		return nil, fmt.Errorf("%w: idp %q signature_algorithm: %w", ErrBadSettings, c.Name, err)
	}
	if signs {
		if err := p.alg.CheckKey(pub); err != nil {
			return nil, fmt.Errorf("%w: idp %q signature_algorithm: %w", ErrBadSettings, c.Name, err)
		}
	}
	digest := c.DigestAlgorithm
	if digest == "" {
		digest = DigestSHA256
	}
	if p.digest, err = LookupDigestAlgorithm(digest); err != nil {
		return nil, fmt.Errorf("%w: idp %q digest_algorithm: %w", ErrBadSettings, c.Name, err)
	}
	if err := fips.Algorithm(p.digest.URI); err != nil {
		return nil, fmt.Errorf("%w: idp %q digest_algorithm: %w", ErrBadSettings, c.Name, err)
	}
	return p, nil
}

func newEndpoint(e config.Endpoint, allowHTTP bool) (endpoint, string, error) {
	b, err := bindingName(e.Binding)
	if err != nil {
		return endpoint{}, "", err
	}
	u, err := checkLocation(e.Location, allowHTTP)
	if err != nil {
		return endpoint{}, "", err
	}
	return endpoint{binding: b, location: e.Location}, u.Scheme + "://" + u.Host, nil
}

// checkLocation accepts an absolute https URL (http too when allowHTTP)
// with a host, no user info and no fragment.
func checkLocation(loc string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("location %q: %w", loc, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("location %q is http: use https (allow_http is for tests only)", loc)
	default:
		return nil, fmt.Errorf("location %q: scheme %q is not https", loc, u.Scheme)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("location %q has no host", loc)
	}
	if u.User != nil {
		return nil, fmt.Errorf("location %q carries user info: remove it", loc)
	}
	if !validHost(u) {
		return nil, fmt.Errorf("location %q: host %q is not a DNS name or IP address (write IDNs in punycode)", loc, u.Host)
	}
	if u.Fragment != "" || strings.Contains(loc, "#") {
		return nil, fmt.Errorf("location %q has a fragment: remove it", loc)
	}
	if strings.ContainsAny(loc, " \t\r\n\"<>\\`") {
		return nil, fmt.Errorf("location %q contains characters a URL must escape", loc)
	}
	return u, nil
}

// validHost accepts DNS names of letters, digits, '-' and '.', and IP
// literals, with an optional numeric port: the host also goes into the
// POST form's Content-Security-Policy, where ';' or ',' would add directives.
func validHost(u *url.URL) bool {
	h := u.Hostname()
	if h == "" {
		return false
	}
	if p := u.Port(); p != "" {
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return false
	}
	if strings.HasPrefix(u.Host, "[") {
		ip, err := netip.ParseAddr(h)
		return err == nil && ip.Is6() && ip.Zone() == ""
	}
	for _, c := range h {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// bindingName maps a binding's short name or URN to its short name.
func bindingName(b string) (string, error) {
	switch b {
	case BindingRedirect, BindingRedirectURN:
		return BindingRedirect, nil
	case BindingPOST, BindingPOSTURN:
		return BindingPOST, nil
	}
	return "", fmt.Errorf("%w %q: use redirect or post", ErrBadBinding, b)
}

func bindingURN(short string) string {
	if short == BindingPOST {
		return BindingPOSTURN
	}
	return BindingRedirectURN
}

// AuthnRequestsSigned reports whether any IdP has Sign AuthnRequest on;
// SP metadata sets AuthnRequestsSigned from it.
func (svc *Service) AuthnRequestsSigned() bool {
	for _, p := range svc.idps {
		if p.signAuthn {
			return true
		}
	}
	return false
}

// Algorithm returns the signature algorithm the named IdP's messages are
// signed with.
func (svc *Service) Algorithm(idpName string) (Algorithm, error) {
	p, ok := svc.idps[idpName]
	if !ok {
		return Algorithm{}, fmt.Errorf("%w %q", ErrUnknownIdP, idpName)
	}
	return p.alg, nil
}
