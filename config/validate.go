package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The SAML 2.0 binding URNs BindingURN knows.
const (
	BindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingArtifact = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
	BindingSOAP     = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
	BindingPAOS     = "urn:oasis:names:tc:SAML:2.0:bindings:PAOS"
)

// ErrUnknownBinding is a binding that is neither a short name nor a known URN.
var ErrUnknownBinding = errors.New("unknown binding")

// BindingURN returns the binding URN of a short name (post, redirect,
// artifact, soap, paos; any case) or of a URN it knows.
func BindingURN(s string) (string, error) {
	switch strings.ToLower(s) {
	case "post", "http-post":
		return BindingPOST, nil
	case "redirect", "http-redirect":
		return BindingRedirect, nil
	case "artifact", "http-artifact":
		return BindingArtifact, nil
	case "soap":
		return BindingSOAP, nil
	case "paos":
		return BindingPAOS, nil
	}
	switch s {
	case BindingPOST, BindingRedirect, BindingArtifact, BindingSOAP, BindingPAOS:
		return s, nil
	}
	return "", fmt.Errorf("%w %q: use post, redirect, artifact, soap, paos or the binding URN", ErrUnknownBinding, s)
}

// signatureAlgorithms are the XML-DSig signature methods the sp package
// implements, by URI and short name. The sp package owns the real registry;
// config only rejects what no registry entry could match.
func signatureAlgorithms() map[string]string {
	return map[string]string{
		"http://www.w3.org/2000/09/xmldsig#rsa-sha1":          "rsa-sha1",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   "rsa-sha256",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384":   "rsa-sha384",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   "rsa-sha512",
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": "ecdsa-sha256",
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": "ecdsa-sha384",
		"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": "ecdsa-sha512",
	}
}

func digestAlgorithms() map[string]string {
	return map[string]string{
		"http://www.w3.org/2000/09/xmldsig#sha1":        "sha1",
		"http://www.w3.org/2001/04/xmlenc#sha256":       "sha256",
		"http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
		"http://www.w3.org/2001/04/xmlenc#sha512":       "sha512",
	}
}

// SignatureAlgorithmURI returns the XML-DSig URI of a signature algorithm
// given by short name ("rsa-sha256") or URI; an unknown one is an error.
func SignatureAlgorithmURI(s string) (string, error) {
	for uri, name := range signatureAlgorithms() {
		if s == uri || s == name {
			return uri, nil
		}
	}
	return "", fmt.Errorf("unknown signature algorithm %q: use rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 or their XML-DSig URIs (rsa-sha1 only if the IdP cannot do better)", s)
}

// knownAlgorithm reports whether s is a URI or short name of registry.
func knownAlgorithm(registry map[string]string, s string) bool {
	if _, ok := registry[s]; ok {
		return true
	}
	for _, name := range registry {
		if s == name {
			return true
		}
	}
	return false
}

// ErrRequired is a key that must be set and is not.
var ErrRequired = errors.New("required")

// scheduleHow says what a schedule looks like.
const scheduleHow = `a cron spec ("0 3 * * *", with an optional seconds field) or a descriptor ("@daily", "@every 5m")`

// ParseSchedule parses a cron spec: five fields with an optional leading
// seconds field, or a descriptor such as "@every 5m" or "@daily". It is the
// one parser of schedules: Validate fills the ParsedSchedule fields with it,
// and the schedulers run what it returns, so a spec the config accepts is
// one they run.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if spec == "" {
		return nil, fmt.Errorf("%w: %s", ErrRequired, scheduleHow)
	}
	parser := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", spec, err)
	}
	return s, nil
}

// parseFetcher parses one metadata_fetchers entry: a network, or a single
// address as the network of just that address. An IPv6 zone is refused:
// networks cannot carry one, and matching would ignore it.
func parseFetcher(s string) (netip.Prefix, error) {
	if pre, err := netip.ParsePrefix(s); err == nil {
		return pre, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or network, like 192.0.2.10 or 192.0.2.0/24", s)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q carries an IPv6 zone (after %%): write the address or network alone, like fe80::1 or fe80::/64", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// problems collects field errors.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
}

// required reports a missing key; how says what to write, or is empty.
func (p *problems) required(field, how string) {
	err := ErrRequired
	if how != "" {
		err = fmt.Errorf("%w: %s", ErrRequired, how)
	}
	*p = append(*p, &FieldError{Field: field, Err: err})
}

// Validate checks the whole configuration and returns every problem found,
// joined (Problems splits them), each a *FieldError naming its key path.
// It also fills the Parsed… fields from the text they are parsed from (nil
// where that text is wrong), so a Config built in code gets them too; call
// it before the Config is shared.
func (c *Config) Validate() error {
	var p problems
	p.listen("listen", c.Listen)
	if strings.TrimSpace(c.Data) == "" {
		p.required("data", "the directory of the SQLite store and the master key")
	}
	if c.DatabaseURL != "" {
		p.databaseURL(c.DatabaseURL)
	}
	if c.StoreTimeout != 0 && (c.StoreTimeout < 100*time.Millisecond || c.StoreTimeout > 10*time.Minute) {
		p.add("store_timeout", "must be between 100ms and 10m, like 5s")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.add("log_level", "%q is not a log level: use debug, info, warn or error", c.LogLevel)
	}
	p.sp(&c.SP)
	p.idps(c.IdPs)
	p.idpSources(c.IdPSources)
	p.properties(c.Properties)
	p.tokens(c.API.Tokens)
	profiles := p.profiles(c.Profiles)
	p.checks(c.Checks, profiles)
	p.rotation("rotation.signing", c.Rotation.Signing)
	p.rotation("rotation.encryption", c.Rotation.Encryption)
	p.alerts(&c.Alerts)
	p.edge(c)
	p.fips(c)
	if c.PKCS11.Module != "" {
		p.pkcs11Module(c.PKCS11.Module)
	}
	return errors.Join(p...)
}

func (p *problems) listen(field, s string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		p.add(field, "%q is not host:port, like 127.0.0.1:8080 or :8080", s)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.add(field, "port %q is not a number from 0 to 65535", port)
	}
	if strings.ContainsAny(host, " /") {
		p.add(field, "host %q is not a host name or IP address", host)
	}
}

func (p *problems) databaseURL(s string) {
	u, err := url.Parse(s)
	if err != nil {
		p.add("database_url", "not a URL: write it as postgres://user@host:5432/samlkeyd")
		return
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		p.add("database_url", "scheme %q is not postgres: write it as postgres://user@host:5432/samlkeyd", u.Scheme)
	}
}

// url checks an absolute URL with a host, scheme https (or http as well
// when allowHTTP). how says what to write instead when the scheme is wrong.
func (p *problems) url(field, s string, allowHTTP bool, how string) {
	if s == "" {
		p.required(field, "")
		return
	}
	u, err := url.Parse(s)
	if err != nil {
		p.add(field, "not a URL: %v", errors.Unwrap(err))
		return
	}
	if !strings.EqualFold(u.Scheme, "https") && !(allowHTTP && strings.EqualFold(u.Scheme, "http")) {
		p.add(field, "%s", how)
		return
	}
	if u.Host == "" || u.Hostname() == "" {
		p.add(field, "%q has no host: write an absolute URL, like https://sp.example.com/saml/acs", s)
		return
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			p.add(field, "port %q is not a number from 0 to 65535", port)
		}
	}
}

const mustHTTP = "must be an absolute http or https URL"

func (p *problems) entityID(field, s string) {
	if s == "" {
		p.required(field, "")
		return
	}
	if strings.HasPrefix(strings.ToLower(s), "urn:") {
		if len(s) > 1024 {
			p.add(field, "longer than SAML's 1024 characters")
		}
		return
	}
	p.url(field, s, true, "must be an absolute URI: an http or https URL, or a urn:")
	if len(s) > 1024 {
		p.add(field, "longer than SAML's 1024 characters")
	}
}

func (p *problems) binding(field, s string, allowed ...string) {
	if s == "" {
		p.required(field, "post or redirect")
		return
	}
	urn, err := BindingURN(s)
	if err != nil {
		*p = append(*p, &FieldError{Field: field, Err: err})
		return
	}
	if len(allowed) == 0 {
		return
	}
	for _, a := range allowed {
		if urn == a {
			return
		}
	}
	p.add(field, "%q is not supported here: use post or redirect", s)
}

// spBinding checks a binding of the SP's own endpoints: post and redirect
// only. samlkeyd resolves no artifacts and answers no SOAP or PAOS, and
// metadata must not advertise a binding nobody serves.
func (p *problems) spBinding(field, s string) {
	urn, err := BindingURN(s)
	if s == "" || err != nil {
		p.binding(field, s)
		return
	}
	switch urn {
	case BindingPOST, BindingRedirect:
		return
	}
	p.add(field, "%q is refused: samlkeyd serves no artifact resolution, SOAP or PAOS endpoint, and metadata must not advertise one; use post or redirect", s)
}

func (p *problems) signatureAlgorithm(field, s string) {
	if s == "" {
		return
	}
	if _, err := SignatureAlgorithmURI(s); err != nil {
		*p = append(*p, &FieldError{Field: field, Err: err})
	}
}

func (p *problems) positive(field string, d time.Duration) {
	if d <= 0 {
		p.add(field, "must be a positive duration, like 24h")
	}
}

// schedule parses a schedule, reporting a problem and returning nil when it
// is missing or wrong.
func (p *problems) schedule(field, spec string) cron.Schedule {
	s, err := ParseSchedule(spec)
	if err != nil {
		*p = append(*p, &FieldError{Field: field, Err: err})
	}
	return s
}

// fetchers parses an IdP's metadata_fetchers, reporting each entry that is
// not an address or network; nil when there are none or any is wrong.
func (p *problems) fetchers(field string, list []string) []netip.Prefix {
	var out []netip.Prefix
	bad := false
	for j, a := range list {
		pre, err := parseFetcher(a)
		if err != nil {
			*p = append(*p, &FieldError{Field: fmt.Sprintf("%s[%d]", field, j), Err: err})
			bad = true
			continue
		}
		out = append(out, pre)
	}
	if bad {
		return nil
	}
	return out
}

// unique reports a name that is empty or seen before in the same list.
func (p *problems) unique(seen map[string]int, list string, i int, name string) {
	field := fmt.Sprintf("%s[%d].name", list, i)
	if strings.TrimSpace(name) == "" {
		p.required(field, "")
		return
	}
	if j, ok := seen[name]; ok {
		p.add(field, "%q is already the name of %s[%d]: names must be unique", name, list, j)
		return
	}
	seen[name] = i
}

func (p *problems) sp(sp *SP) {
	p.entityID("sp.entity_id", sp.EntityID)
	p.url("sp.base_url", sp.BaseURL, true, mustHTTP)
	if len(sp.ACS) == 0 {
		p.required("sp.acs", "at least one assertion consumer service")
	}
	indexes := map[int]int{}
	defaults := 0
	for i, e := range sp.ACS {
		f := fmt.Sprintf("sp.acs[%d]", i)
		p.spBinding(f+".binding", e.Binding)
		p.url(f+".location", e.Location, true, mustHTTP)
		if e.ResponseLocation != "" {
			p.add(f+".response_location", "only single logout endpoints have a response_location")
		}
		if e.Index < 0 {
			p.add(f+".index", "must not be negative")
		} else if j, ok := indexes[e.Index]; ok {
			p.add(f+".index", "%d is already the index of sp.acs[%d]: indexes must be unique", e.Index, j)
		} else {
			indexes[e.Index] = i
		}
		if e.Default {
			defaults++
			if defaults == 2 {
				p.add(f+".default", "only one assertion consumer service can be the default")
			}
		}
	}
	for i, e := range sp.SLO {
		f := fmt.Sprintf("sp.slo[%d]", i)
		p.spBinding(f+".binding", e.Binding)
		p.url(f+".location", e.Location, true, mustHTTP)
		if e.ResponseLocation != "" {
			p.url(f+".response_location", e.ResponseLocation, true, mustHTTP)
		}
		if e.Index != 0 || e.Default {
			p.add(f, "single logout endpoints have no index or default")
		}
	}
	for i, f := range sp.NameIDFormats {
		if !strings.HasPrefix(f, "urn:") {
			p.add(fmt.Sprintf("sp.name_id_formats[%d]", i), "%q is not a NameID format URN, like urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", f)
		}
	}
	md := sp.Metadata
	if sp.ClockSkew < 0 || sp.ClockSkew > time.Hour {
		p.add("sp.clock_skew", "must be between 0 and 1h, like 3m")
	}
	p.xmlLimits(sp.Limits)
	p.positive("sp.metadata.valid_for", md.ValidFor)
	p.positive("sp.metadata.cache_duration", md.CacheDuration)
	if md.ValidFor > 0 && md.CacheDuration > md.ValidFor {
		p.add("sp.metadata.cache_duration", "%s is longer than sp.metadata.valid_for (%s): caches would keep metadata past its validUntil", FormatDuration(md.CacheDuration), FormatDuration(md.ValidFor))
	}
	p.signatureAlgorithm("sp.metadata.signature_algorithm", md.SignatureAlgorithm)
	if o := sp.Organization; o != nil {
		if o.Name == "" {
			p.required("sp.organization.name", "organization is set")
		}
		if o.DisplayName == "" {
			p.required("sp.organization.display_name", "organization is set")
		}
		p.url("sp.organization.url", o.URL, true, mustHTTP)
	}
	for i, ct := range sp.Contacts {
		p.contact(fmt.Sprintf("sp.contacts[%d]", i), ct)
	}
	p.federation(sp)
}

func (p *problems) idps(idps []IdP) {
	seen := map[string]int{}
	for i := range idps {
		idp := &idps[i]
		f := fmt.Sprintf("idps[%d]", i)
		p.unique(seen, "idps", i, idp.Name)
		p.entityID(f+".entity_id", idp.EntityID)
		how := "must be an https URL (set allow_http: true only for tests)"
		if idp.AllowHTTP {
			how = mustHTTP
		}
		p.binding(f+".sso.binding", idp.SSO.Binding, BindingPOST, BindingRedirect)
		p.url(f+".sso.location", idp.SSO.Location, idp.AllowHTTP, how)
		if idp.SLO != (Endpoint{}) {
			p.binding(f+".slo.binding", idp.SLO.Binding, BindingPOST, BindingRedirect)
			p.url(f+".slo.location", idp.SLO.Location, idp.AllowHTTP, how)
			if idp.SLO.ResponseLocation != "" {
				p.url(f+".slo.response_location", idp.SLO.ResponseLocation, idp.AllowHTTP, how)
			}
		}
		if idp.SSO.ResponseLocation != "" {
			p.add(f+".sso.response_location", "only single logout endpoints have a response_location")
		}
		for _, e := range []struct {
			name string
			ep   Endpoint
		}{{"sso", idp.SSO}, {"slo", idp.SLO}} {
			if e.ep.Index != 0 || e.ep.Default {
				p.add(f+"."+e.name, "an IdP endpoint has no index or default")
			}
		}
		if idp.SignLogoutRequest && idp.SLO.Location == "" {
			p.add(f+".sign_logout_request", "needs slo.location: there is no single logout endpoint to send signed requests to")
		}
		if idp.SignLogoutResponse != nil && *idp.SignLogoutResponse && idp.SLO.Location == "" {
			p.add(f+".sign_logout_response", "needs slo.location: there is no single logout endpoint to send signed responses to")
		}
		p.signatureAlgorithm(f+".signature_algorithm", idp.SignatureAlgorithm)
		if d := idp.DigestAlgorithm; d != "" && !knownAlgorithm(digestAlgorithms(), d) {
			p.add(f+".digest_algorithm", "unknown digest algorithm %q: use sha256, sha384, sha512 or their XML-DSig URIs", d)
		}
		for j, name := range idp.SigningCerts {
			if strings.TrimSpace(name) == "" {
				p.add(fmt.Sprintf("%s.signing_certs[%d]", f, j), "must name a trust-store certificate record")
			}
		}
		if idp.MetadataFile != "" && idp.MetadataURL != "" {
			p.add(f+".metadata_url", "set metadata_file or metadata_url, not both")
		}
		if idp.MetadataRefresh < 0 || (idp.MetadataRefresh > 0 && idp.MetadataRefresh < time.Minute) {
			p.add(f+".metadata_refresh", "must be at least 1m, like 1h")
		}
		idp.ParsedFetchers = p.fetchers(f+".metadata_fetchers", idp.MetadataFetchers)
		if idp.MetadataSigningCert != "" && idp.MetadataFile == "" && idp.MetadataURL == "" {
			p.add(f+".metadata_signing_cert", "needs metadata_file or metadata_url")
		}
		if idp.MetadataURL != "" {
			p.url(f+".metadata_url", idp.MetadataURL, idp.AllowHTTP, how)
		}
	}
}

func (p *problems) properties(props []Property) {
	seen := map[string]int{}
	for i, pr := range props {
		p.unique(seen, "properties", i, pr.Name)
		if strings.TrimSpace(pr.Value) == "" {
			p.required(fmt.Sprintf("properties[%d].value", i), "the id of a certificate record")
		}
	}
}

func (p *problems) tokens(tokens []Token) {
	seen := map[string]int{}
	for i, t := range tokens {
		f := fmt.Sprintf("api.tokens[%d]", i)
		p.unique(seen, "api.tokens", i, t.Name)
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			p.add(f+".sha256", "must be 64 hex digits, the SHA-256 of the token (printf %%s \"$TOKEN\" | sha256sum)")
		}
		if len(t.Scopes) == 0 {
			p.required(f+".scopes", "sign, admin or both")
		}
		for j, s := range t.Scopes {
			if s != "sign" && s != "admin" {
				p.add(fmt.Sprintf("%s.scopes[%d]", f, j), "%q is not a scope: use sign or admin", s)
			}
		}
	}
}

func (p *problems) profiles(profiles []Profile) map[string]bool {
	seen := map[string]int{}
	names := map[string]bool{}
	for i, pr := range profiles {
		f := fmt.Sprintf("profiles[%d]", i)
		p.unique(seen, "profiles", i, pr.Name)
		names[pr.Name] = true
		if strings.ContainsAny(pr.Name, ":/ ") {
			p.add(f+".name", "%q must be a bare URL scheme, like mhttps", pr.Name)
		}
		if strings.TrimSpace(pr.Keystore) == "" {
			p.required(f+".keystore", "the certificate record holding the client key")
		}
		if pr.DefaultPort < 0 || pr.DefaultPort > 65535 {
			p.add(f+".default_port", "%d is out of range 1-65535", pr.DefaultPort)
		}
		v := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(pr.MinTLSVersion)), "tls"), "v"))
		switch v {
		case "", "1.2", "12", "1_2", "1.3", "13", "1_3":
		case "1.0", "1.1", "10", "11":
			p.add(f+".min_tls_version", "%q is not allowed: TLS 1.0 and 1.1 are obsolete; use 1.2 or 1.3", pr.MinTLSVersion)
		default:
			p.add(f+".min_tls_version", "%q: use 1.2 or 1.3", pr.MinTLSVersion)
		}
	}
	return names
}

func (p *problems) checks(checks []Check, profiles map[string]bool) {
	seen := map[string]int{}
	for i := range checks {
		c := &checks[i]
		f := fmt.Sprintf("checks[%d]", i)
		p.unique(seen, "checks", i, c.Name)
		if u, err := url.Parse(c.URL); err != nil || u.Scheme == "" || u.Hostname() == "" {
			p.add(f+".url", "%q is not an absolute URL: write it as mhttps://host[:port]/path (the scheme naming a profile) or https://… with profile:", c.URL)
		}
		if c.Profile != "" && !profiles[c.Profile] {
			p.add(f+".profile", "%q is not the name of a profile", c.Profile)
		}
		for j, s := range c.ExpectStatus {
			if s < 100 || s > 599 {
				p.add(fmt.Sprintf("%s.expect_status[%d]", f, j), "%d is not an HTTP status", s)
			}
		}
		c.ParsedSchedule = p.schedule(f+".schedule", c.Schedule)
		if c.Timeout < 0 {
			p.add(f+".timeout", "must not be negative (0 means the default)")
		}
	}
}

func (p *problems) rotation(field string, r *RotationPolicy) {
	if r == nil {
		return
	}
	switch r.KeyAlg {
	case "", "rsa", "ec":
	default:
		p.add(field+".key_alg", "%q: use rsa or ec", r.KeyAlg)
	}
	if r.KeySize < 0 {
		p.add(field+".key_size", "must not be negative")
	}
	if r.Validity < 0 {
		p.add(field+".validity", "must not be negative (0 means the default)")
	}
	p.positive(field+".rotate_before", r.RotateBefore)
	p.positive(field+".publish_for", r.PublishFor)
	p.positive(field+".retire_after", r.RetireAfter)
	if r.MaxWait < 0 {
		p.add(field+".max_wait", "must not be negative")
	}
	if r.Validity > 0 && r.RotateBefore >= r.Validity {
		p.add(field+".rotate_before", "%s is not shorter than validity (%s): every new key would be due at once", FormatDuration(r.RotateBefore), FormatDuration(r.Validity))
	}
	switch {
	case r.PublishMode == "" || r.PublishMode == "add":
	case r.PublishMode != "replace":
		p.add(field+".publish_mode", "%q: use add or replace", r.PublishMode)
	case !strings.HasSuffix(field, ".encryption"):
		p.add(field+".publish_mode", "replace applies to encryption keys only (metadata always lists the current signing key)")
	}
	r.ParsedSchedule = p.schedule(field+".schedule", r.Schedule)
}

func (p *problems) alerts(a *Alerts) {
	for i, t := range a.Thresholds {
		p.positive(fmt.Sprintf("alerts.thresholds[%d]", i), t)
	}
	if w := a.Webhook; w != nil {
		p.url("alerts.webhook.url", w.URL, true, mustHTTP)
		if w.Timeout < 0 {
			p.add("alerts.webhook.timeout", "must not be negative (0 means the default)")
		}
	}
	if s := a.SMTP; s != nil {
		p.listen("alerts.smtp.addr", s.Addr)
		if !strings.Contains(s.From, "@") {
			p.required("alerts.smtp.from", "an e-mail address")
		}
		if len(s.To) == 0 {
			p.required("alerts.smtp.to", "at least one e-mail address")
		}
		for i, to := range s.To {
			if !strings.Contains(to, "@") {
				p.add(fmt.Sprintf("alerts.smtp.to[%d]", i), "%q is not an e-mail address", to)
			}
		}
	}
}

// pkcs11Module checks that the PKCS#11 library is an absolute path to a
// regular file (whether it loads is known when a token is opened).
func (p *problems) pkcs11Module(path string) {
	if !filepath.IsAbs(path) {
		p.add("pkcs11.module", "%q is not an absolute path: name the library, like /usr/lib/softhsm/libsofthsm2.so", path)
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		p.add("pkcs11.module", "%v", err)
		return
	}
	if !fi.Mode().IsRegular() {
		p.add("pkcs11.module", "%q is not a regular file", path)
	}
}
