package config

import (
	"fmt"
	"strings"
	"time"
)

// IdPSource is one idp_sources entry: a federation's metadata, an
// aggregate (aggregate_url or aggregate_file) or a Metadata Query Protocol
// service (mdq_url), whose signature must verify with the certificate of
// the record signing_cert. Its IdPs are addressed by entity id; the
// switches below are applied to each of them, and the filters select
// which are used.
type IdPSource struct {
	Name          string `mapstructure:"name" yaml:"name"`
	AggregateURL  string `mapstructure:"aggregate_url" yaml:"aggregate_url,omitempty"`
	AggregateFile string `mapstructure:"aggregate_file" yaml:"aggregate_file,omitempty"`
	MDQURL        string `mapstructure:"mdq_url" yaml:"mdq_url,omitempty"`
	SigningCert   string `mapstructure:"signing_cert" yaml:"signing_cert"`
	// Refresh is how often an aggregate is fetched or read again (0 = 1h
	// for aggregate_url and aggregate_file; not used by mdq_url, whose
	// answers live for their own validUntil and cacheDuration).
	Refresh   time.Duration `mapstructure:"refresh" yaml:"refresh,omitempty"`
	AllowSHA1 bool          `mapstructure:"allow_sha1" yaml:"allow_sha1,omitempty"` // accept a rsa-sha1 / sha1 metadata signature
	AllowHTTP bool          `mapstructure:"allow_http" yaml:"allow_http,omitempty"` // tests only: http: URLs

	// Applied to every IdP of the source.
	SignatureAlgorithm string `mapstructure:"signature_algorithm" yaml:"signature_algorithm,omitempty"`
	SignAuthnRequest   bool   `mapstructure:"sign_authn_request" yaml:"sign_authn_request,omitempty"` // also when the IdP publishes WantAuthnRequestsSigned
	EncryptAssertion   bool   `mapstructure:"encrypt_assertion" yaml:"encrypt_assertion,omitempty"`
	WantResponseSigned bool   `mapstructure:"want_response_signed" yaml:"want_response_signed,omitempty"`

	// Filters: an entity is used when it matches every filter set.
	EntityIDs             []string `mapstructure:"entity_ids" yaml:"entity_ids,omitempty"`
	RegistrationAuthority []string `mapstructure:"registration_authority" yaml:"registration_authority,omitempty"` // any of
	EntityCategory        []string `mapstructure:"entity_category" yaml:"entity_category,omitempty"`               // any of
}

// DefaultSourceRefresh is the refresh of an aggregate source that sets none.
const DefaultSourceRefresh = time.Hour

// Kind is "aggregate" or "mdq".
func (s *IdPSource) Kind() string {
	if s.MDQURL != "" {
		return "mdq"
	}
	return "aggregate"
}

// applyIdPSourceDefaults fills the defaults inside idp_sources items.
func (c *Config) applyIdPSourceDefaults() {
	for i := range c.IdPSources {
		s := &c.IdPSources[i]
		if s.Refresh == 0 && s.MDQURL == "" {
			s.Refresh = DefaultSourceRefresh
		}
	}
}

// idpSources checks the idp_sources entries.
func (p *problems) idpSources(sources []IdPSource) {
	seen := map[string]int{}
	for i := range sources {
		s := &sources[i]
		f := fmt.Sprintf("idp_sources[%d]", i)
		p.unique(seen, "idp_sources", i, s.Name)
		if strings.ContainsAny(s.Name, " /") {
			p.add(f+".name", "%q must not contain spaces or slashes (it names the source in logs, metrics and /readyz)", s.Name)
		}
		set := 0
		for _, v := range []string{s.AggregateURL, s.AggregateFile, s.MDQURL} {
			if v != "" {
				set++
			}
		}
		switch {
		case set == 0:
			p.required(f+".aggregate_url", "set aggregate_url, aggregate_file or mdq_url")
		case set > 1:
			second := ".aggregate_file"
			if s.MDQURL != "" {
				second = ".mdq_url"
			}
			p.add(f+second, "set one of aggregate_url, aggregate_file and mdq_url, not several")
		}
		how := "must be an https URL (set allow_http: true only for tests)"
		if s.AggregateURL != "" {
			p.url(f+".aggregate_url", s.AggregateURL, s.AllowHTTP, how)
		}
		if s.MDQURL != "" {
			p.url(f+".mdq_url", s.MDQURL, s.AllowHTTP, how)
		}
		if strings.TrimSpace(s.SigningCert) == "" {
			p.required(f+".signing_cert", "the trust-store record whose certificate signs the federation's metadata")
		}
		if s.MDQURL != "" && s.Refresh != 0 {
			p.add(f+".refresh", "applies to aggregates only: an MDQ answer is cached for its own validUntil and cacheDuration")
		} else if s.Refresh < 0 || (s.Refresh > 0 && s.Refresh < time.Minute) {
			p.add(f+".refresh", "must be at least 1m, like 1h")
		}
		p.signatureAlgorithm(f+".signature_algorithm", s.SignatureAlgorithm)
		for j, id := range s.EntityIDs {
			p.entityID(fmt.Sprintf("%s.entity_ids[%d]", f, j), id)
		}
		p.uris(f+".registration_authority", s.RegistrationAuthority)
		p.uris(f+".entity_category", s.EntityCategory)
	}
}
