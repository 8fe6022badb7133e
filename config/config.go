// Package config owns the daemon's configuration: the typed shape of the
// YAML file, loading it with viper (file, SAMLKEYD_* environment, flags),
// defaults, validation, parsing what consumers need parsed (cron
// schedules, networks) once at load, and hot reload. It knows nothing of
// keys or HTTP.
package config

import (
	"net/netip"
	"time"

	"github.com/robfig/cron/v3"
)

// Config is the whole daemon configuration. A *Config is immutable once
// loaded and validated; a reload builds a new one.
//
// What the file writes as text and consumers need parsed (cron schedules,
// metadata_fetchers networks) is parsed once, by Validate (Load and Parse
// call it), into the fields named Parsed…: they are tagged "-", so they are
// neither read from the file nor printed, and a Config built in code gets
// them by calling Validate. Durations are typed when the file is decoded.
type Config struct {
	Listen        string `mapstructure:"listen" yaml:"listen"`
	Data          string `mapstructure:"data" yaml:"data"`
	DatabaseURL   string `mapstructure:"database_url" yaml:"database_url,omitempty"`
	MasterKeyFile string `mapstructure:"master_key_file" yaml:"master_key_file,omitempty"`
	// StoreTimeout bounds every store call (0: the store's default, 5s).
	StoreTimeout time.Duration `mapstructure:"store_timeout" yaml:"store_timeout"`
	LogLevel     string        `mapstructure:"log_level" yaml:"log_level"`
	// The network edge (edge.go): the connection cap, the metrics
	// listener, and the proxies whose X-Forwarded-For is believed.
	MaxConnections int      `mapstructure:"max_connections" yaml:"max_connections"`
	MetricsListen  string   `mapstructure:"metrics_listen" yaml:"metrics_listen,omitempty"`
	TrustedProxies []string `mapstructure:"trusted_proxies" yaml:"trusted_proxies,omitempty"`

	SP         SP          `mapstructure:"sp" yaml:"sp"`
	IdPs       []IdP       `mapstructure:"idps" yaml:"idps"`
	IdPSources []IdPSource `mapstructure:"idp_sources" yaml:"idp_sources,omitempty"` // federations (idpsources.go)
	Properties []Property  `mapstructure:"properties" yaml:"properties"`
	API        API         `mapstructure:"api" yaml:"api"`
	Profiles   []Profile   `mapstructure:"profiles" yaml:"profiles"`
	Checks     []Check     `mapstructure:"checks" yaml:"checks"`
	Rotation   Rotation    `mapstructure:"rotation" yaml:"rotation"`
	Alerts     Alerts      `mapstructure:"alerts" yaml:"alerts"`
	PKCS11     PKCS11      `mapstructure:"pkcs11" yaml:"pkcs11,omitempty"`

	// ParsedTrustedProxies is TrustedProxies parsed by Validate, one
	// network per entry (a single address is a /32 or /128).
	ParsedTrustedProxies []netip.Prefix `mapstructure:"-" yaml:"-"`
}

// PKCS11 is how certificate records of type pkcs11 reach their tokens.
type PKCS11 struct {
	// Module is the PKCS#11 library (SoftHSM2's or a vendor's), an
	// absolute path; empty means pkcs11 records cannot be opened.
	Module string `mapstructure:"module" yaml:"module,omitempty"`
}

// SP is the service provider's own SAML settings.
type SP struct {
	EntityID             string        `mapstructure:"entity_id" yaml:"entity_id"`
	BaseURL              string        `mapstructure:"base_url" yaml:"base_url"`
	ACS                  []Endpoint    `mapstructure:"acs" yaml:"acs"`
	SLO                  []Endpoint    `mapstructure:"slo" yaml:"slo"`
	NameIDFormats        []string      `mapstructure:"name_id_formats" yaml:"name_id_formats"`
	WantAssertionsSigned bool          `mapstructure:"want_assertions_signed" yaml:"want_assertions_signed"`
	ClockSkew            time.Duration `mapstructure:"clock_skew" yaml:"clock_skew"`               // tolerance on assertion time conditions
	AllowRSA15           bool          `mapstructure:"allow_rsa1_5" yaml:"allow_rsa1_5,omitempty"` // accept the deprecated rsa-1_5 key transport
	AllowCBC             *bool         `mapstructure:"allow_cbc" yaml:"allow_cbc,omitempty"`       // accept CBC content encryption (no integrity; ADFS, older Shibboleth); nil = true
	Limits               XMLLimits     `mapstructure:"limits" yaml:"limits"`                       // structural limits on responses and decrypted assertions
	Metadata             Metadata      `mapstructure:"metadata" yaml:"metadata"`
	Organization         *Organization `mapstructure:"organization" yaml:"organization,omitempty"`
	Contacts             []Contact     `mapstructure:"contacts" yaml:"contacts,omitempty"`
	// Federation metadata: mdui:UIInfo, requested attributes, entity
	// attributes and the discovery response endpoints (see federation.go).
	UIInfo                  *UIInfo              `mapstructure:"ui_info" yaml:"ui_info,omitempty"`
	RequestedAttributes     []RequestedAttribute `mapstructure:"requested_attributes" yaml:"requested_attributes,omitempty"`
	EntityCategories        []string             `mapstructure:"entity_categories" yaml:"entity_categories,omitempty"`
	AssuranceCertifications []string             `mapstructure:"assurance_certifications" yaml:"assurance_certifications,omitempty"`
	DiscoveryResponse       []string             `mapstructure:"discovery_response" yaml:"discovery_response,omitempty"`
}

// Endpoint is a SAML endpoint: binding (post, redirect, or a full binding
// URN), location, for indexed endpoints index and default, and for single
// logout endpoints the optional response location (where LogoutResponses
// go; empty = location).
type Endpoint struct {
	Binding          string `mapstructure:"binding" yaml:"binding"`
	Location         string `mapstructure:"location" yaml:"location"`
	ResponseLocation string `mapstructure:"response_location" yaml:"response_location,omitempty"`
	Index            int    `mapstructure:"index" yaml:"index,omitempty"`
	Default          bool   `mapstructure:"default" yaml:"default,omitempty"`
}

// Metadata says how SP metadata is published.
type Metadata struct {
	ValidFor           time.Duration `mapstructure:"valid_for" yaml:"valid_for"`
	CacheDuration      time.Duration `mapstructure:"cache_duration" yaml:"cache_duration"`
	Signed             bool          `mapstructure:"signed" yaml:"signed"`
	SignatureAlgorithm string        `mapstructure:"signature_algorithm" yaml:"signature_algorithm,omitempty"`
}

// Organization is metadata's optional Organization element.
type Organization struct {
	Name        string `mapstructure:"name" yaml:"name"`
	DisplayName string `mapstructure:"display_name" yaml:"display_name"`
	URL         string `mapstructure:"url" yaml:"url"`
	Lang        string `mapstructure:"lang" yaml:"lang,omitempty"`
}

// Contact is one metadata ContactPerson.
type Contact struct {
	Type      string `mapstructure:"type" yaml:"type"` // technical, support, administrative, billing, other, security
	Company   string `mapstructure:"company" yaml:"company,omitempty"`
	GivenName string `mapstructure:"given_name" yaml:"given_name,omitempty"`
	SurName   string `mapstructure:"sur_name" yaml:"sur_name,omitempty"`
	Email     string `mapstructure:"email" yaml:"email,omitempty"`
	Phone     string `mapstructure:"phone" yaml:"phone,omitempty"`
}

// IdP is one identity provider record.
type IdP struct {
	Name               string   `mapstructure:"name" yaml:"name"`
	EntityID           string   `mapstructure:"entity_id" yaml:"entity_id"`
	SSO                Endpoint `mapstructure:"sso" yaml:"sso"`
	SLO                Endpoint `mapstructure:"slo" yaml:"slo"`
	SignatureAlgorithm string   `mapstructure:"signature_algorithm" yaml:"signature_algorithm,omitempty"`
	DigestAlgorithm    string   `mapstructure:"digest_algorithm" yaml:"digest_algorithm,omitempty"`
	SignAuthnRequest   bool     `mapstructure:"sign_authn_request" yaml:"sign_authn_request"`
	SignLogoutRequest  bool     `mapstructure:"sign_logout_request" yaml:"sign_logout_request"`
	// SignLogoutResponse signs the SP's LogoutResponses to this IdP (nil =
	// sign_logout_request); see SignsLogoutResponse.
	SignLogoutResponse *bool `mapstructure:"sign_logout_response" yaml:"sign_logout_response,omitempty"`
	// WantLogoutSigned requires the IdP's LogoutRequests and
	// LogoutResponses to be signed (nil = true); see WantsLogoutSigned.
	WantLogoutSigned   *bool    `mapstructure:"want_logout_signed" yaml:"want_logout_signed,omitempty"`
	EncryptAssertion   bool     `mapstructure:"encrypt_assertion" yaml:"encrypt_assertion"`
	WantResponseSigned bool     `mapstructure:"want_response_signed" yaml:"want_response_signed,omitempty"` // the Response element must be signed
	SigningCerts       []string `mapstructure:"signing_certs" yaml:"signing_certs,omitempty"`
	MetadataFile       string   `mapstructure:"metadata_file" yaml:"metadata_file,omitempty"`
	MetadataURL        string   `mapstructure:"metadata_url" yaml:"metadata_url,omitempty"`
	// MetadataRefresh is how often metadata_url is fetched again (0 = 1h).
	MetadataRefresh time.Duration `mapstructure:"metadata_refresh" yaml:"metadata_refresh,omitempty"`
	// MetadataSigningCert names the trust-store record whose certificate
	// must have signed the IdP's metadata (file or URL); empty = unsigned
	// metadata is accepted.
	MetadataSigningCert string `mapstructure:"metadata_signing_cert" yaml:"metadata_signing_cert,omitempty"`
	AllowHTTP           bool   `mapstructure:"allow_http" yaml:"allow_http,omitempty"` // tests only: accept http: endpoints
	// MetadataFetchers and MetadataUserAgent recognise this IdP's fetches
	// of the SP metadata (by source address or network, and by a substring
	// of the User-Agent), so a key rollover can wait until it has seen the
	// next key. Where MetadataFetchers is set the source address must
	// match (and the User-Agent too, when set); a User-Agent alone counts
	// only with MetadataUserAgentTrusted, since anyone can send it.
	MetadataFetchers         []string `mapstructure:"metadata_fetchers" yaml:"metadata_fetchers,omitempty"`
	MetadataUserAgent        string   `mapstructure:"metadata_user_agent" yaml:"metadata_user_agent,omitempty"`
	MetadataUserAgentTrusted bool     `mapstructure:"metadata_user_agent_trusted" yaml:"metadata_user_agent_trusted,omitempty"`
	// AllowCBC overrides sp.allow_cbc for this IdP (nil = sp.allow_cbc).
	AllowCBC *bool `mapstructure:"allow_cbc" yaml:"allow_cbc,omitempty"`
	// AllowSHA1 accepts rsa-sha1 and SHA-1 digests in this IdP's
	// signatures, with a warning and a metric at each use.
	AllowSHA1 bool `mapstructure:"allow_sha1" yaml:"allow_sha1,omitempty"`

	// ParsedFetchers is MetadataFetchers parsed by Validate, one network
	// per entry (a single address is a /32 or /128).
	ParsedFetchers []netip.Prefix `mapstructure:"-" yaml:"-"`
}

// Property is one system property, such as
// glide.authenticate.sso.saml2.keystore. Properties are a list because
// their names contain dots, viper's key delimiter.
type Property struct {
	Name  string `mapstructure:"name" yaml:"name"`
	Value string `mapstructure:"value" yaml:"value"`
}

// API holds the bearer tokens of the authenticated API.
type API struct {
	Tokens []Token `mapstructure:"tokens" yaml:"tokens"`
}

// Token is one API bearer token, stored as the hex SHA-256 of the token.
type Token struct {
	Name   string   `mapstructure:"name" yaml:"name"`
	SHA256 string   `mapstructure:"sha256" yaml:"sha256"`
	Scopes []string `mapstructure:"scopes" yaml:"scopes"`
}

// Profile is an outbound mTLS protocol profile.
type Profile struct {
	Name          string   `mapstructure:"name" yaml:"name"`
	Keystore      string   `mapstructure:"keystore" yaml:"keystore"`
	DefaultPort   int      `mapstructure:"default_port" yaml:"default_port"`
	TrustStore    []string `mapstructure:"trust_store" yaml:"trust_store"`
	MinTLSVersion string   `mapstructure:"min_tls_version" yaml:"min_tls_version,omitempty"`
	ServerName    string   `mapstructure:"server_name" yaml:"server_name,omitempty"`
}

// Check is a scheduled outbound mTLS health check.
type Check struct {
	Name         string            `mapstructure:"name" yaml:"name"`
	URL          string            `mapstructure:"url" yaml:"url"`
	Profile      string            `mapstructure:"profile" yaml:"profile,omitempty"`
	Method       string            `mapstructure:"method" yaml:"method,omitempty"`
	ExpectStatus []int             `mapstructure:"expect_status" yaml:"expect_status,omitempty"`
	Schedule     string            `mapstructure:"schedule" yaml:"schedule"`
	Timeout      time.Duration     `mapstructure:"timeout" yaml:"timeout"`
	Headers      map[string]string `mapstructure:"headers" yaml:"headers,omitempty"`

	// ParsedSchedule is Schedule parsed by Validate.
	ParsedSchedule cron.Schedule `mapstructure:"-" yaml:"-"`
}

// Rotation holds the rotation policy per use; a nil policy means rotation
// of that use is off.
type Rotation struct {
	Signing    *RotationPolicy `mapstructure:"signing" yaml:"signing,omitempty"`
	Encryption *RotationPolicy `mapstructure:"encryption" yaml:"encryption,omitempty"`
}

// RotationPolicy says when and how one use's key is rolled over.
type RotationPolicy struct {
	KeyAlg       string        `mapstructure:"key_alg" yaml:"key_alg,omitempty"`
	KeySize      int           `mapstructure:"key_size" yaml:"key_size,omitempty"`
	Validity     time.Duration `mapstructure:"validity" yaml:"validity,omitempty"`
	RotateBefore time.Duration `mapstructure:"rotate_before" yaml:"rotate_before"`
	PublishFor   time.Duration `mapstructure:"publish_for" yaml:"publish_for"`
	RetireAfter  time.Duration `mapstructure:"retire_after" yaml:"retire_after"`
	MaxWait      time.Duration `mapstructure:"max_wait" yaml:"max_wait,omitempty"`
	Schedule     string        `mapstructure:"schedule" yaml:"schedule"`
	// PublishMode (encryption only): add (default) lists the next key after
	// the current one in metadata; replace lists it instead of the current
	// one, for IdPs that accept one encryption certificate (ADFS).
	PublishMode string `mapstructure:"publish_mode" yaml:"publish_mode,omitempty"`

	// ParsedSchedule is Schedule parsed by Validate.
	ParsedSchedule cron.Schedule `mapstructure:"-" yaml:"-"`
}

// Alerts configures expiry thresholds and alert sinks.
type Alerts struct {
	Thresholds []time.Duration `mapstructure:"thresholds" yaml:"thresholds"`
	// DecryptFailureBurst: more opaque decryption failures than this from
	// one IdP within DecryptFailureWindow raise a decrypt_failures alert.
	DecryptFailureBurst int      `mapstructure:"decrypt_failure_burst" yaml:"decrypt_failure_burst"`
	Webhook             *Webhook `mapstructure:"webhook" yaml:"webhook,omitempty"`
	SMTP                *SMTP    `mapstructure:"smtp" yaml:"smtp,omitempty"`
}

// Webhook is the JSON webhook alert sink.
type Webhook struct {
	URL            string        `mapstructure:"url" yaml:"url"`
	HMACSecretFile string        `mapstructure:"hmac_secret_file" yaml:"hmac_secret_file,omitempty"`
	Timeout        time.Duration `mapstructure:"timeout" yaml:"timeout,omitempty"`
}

// SMTP is the e-mail alert sink.
type SMTP struct {
	Addr         string   `mapstructure:"addr" yaml:"addr"`
	From         string   `mapstructure:"from" yaml:"from"`
	To           []string `mapstructure:"to" yaml:"to"`
	Username     string   `mapstructure:"username" yaml:"username,omitempty"`
	PasswordFile string   `mapstructure:"password_file" yaml:"password_file,omitempty"`
}
