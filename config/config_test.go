package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// noEnv keeps tests hermetic: the machine's SAMLKEYD_* variables are not read.
func noEnv(string) (string, bool) { return "", false }

// envOf serves environment lookups from a map.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestBadFixtures maps each fixture in testdata/bad to the exact problems it
// must produce, in order, and to the sentinel error callers branch on.
func TestBadFixtures(t *testing.T) {
	tests := []struct {
		file     string
		is       error
		problems []string
	}{
		{"acs.yaml", nil, []string{
			`sp.acs[1].location: must be an absolute http or https URL`,
			`sp.acs[1].index: 0 is already the index of sp.acs[0]: indexes must be unique`,
			`sp.acs[1].default: only one assertion consumer service can be the default`,
			`sp.acs[2].location: must be an absolute http or https URL`,
			`sp.acs[2].index: must not be negative`,
		}},
		{"binding.yaml", config.ErrUnknownBinding, []string{
			`sp.acs[0].binding: unknown binding "HTTP-POSTT": use post, redirect, artifact, soap, paos or the binding URN`,
			`idps[0].sso.binding: "artifact" is not supported here: use post or redirect`,
		}},
		{"comments-only.yaml", config.ErrEmpty, []string{
			`config file is empty: write at least one key (an empty file would silently reset every setting to its default)`,
		}},
		{"cron.yaml", nil, []string{
			`checks[0].schedule: "61 * * * *": end of range (61) above maximum (59): 61`,
			`checks[1].schedule: "@every five minutes": failed to parse duration @every five minutes: time: invalid duration "five minutes"`,
			`checks[2].schedule: required: a cron spec ("0 3 * * *", with an optional seconds field) or a descriptor ("@daily", "@every 5m")`,
			`rotation.signing.schedule: "@fortnightly": unrecognized descriptor: @fortnightly`,
		}},
		{"database-url-scheme.yaml", nil, []string{
			`database_url: scheme "mysql" is not postgres: write it as postgres://user@host:5432/samlkeyd`,
		}},
		{"duplicate-names.yaml", nil, []string{
			`idps[1].name: "corp" is already the name of idps[0]: names must be unique`,
			`profiles[1].name: "mhttps" is already the name of profiles[0]: names must be unique`,
			`checks[1].name: required`,
			`checks[2].name: "partner" is already the name of checks[0]: names must be unique`,
		}},
		{"duration-days.yaml", nil, []string{
			`sp.metadata.valid_for: "2d" is not a duration: write a number with a unit, like 48h, 30m or 10s (days are not a unit: 7 days is 168h)`,
		}},
		{"duration-no-unit.yaml", nil, []string{
			`sp.metadata.valid_for: 172800 has no unit: write a duration like 48h, 30m or 10s`,
		}},
		{"edge.yaml", nil, []string{
			`max_connections: 0 is not from 1 to 1000000 (the default, 1024, suits one SP)`,
			`metrics_listen: "127.0.0.1:8080" is listen's address: give /metrics its own port, like 127.0.0.1:9108, or leave metrics_listen unset`,
			`trusted_proxies[1]: "proxy.example.com" is not an IP address or network, like 192.0.2.10 or 192.0.2.0/24`,
			`trusted_proxies[2]: "10.0.0.0/33" is not an IP address or network, like 192.0.2.10 or 192.0.2.0/24`,
			`idps[0].metadata_user_agent_trusted: needs metadata_user_agent: there is no User-Agent to trust`,
			`idps[1].metadata_user_agent_trusted: has no effect with metadata_fetchers: the source address decides; remove one of them`,
			`alerts.decrypt_failure_burst: must be at least 1 (default 20)`,
		}},
		{"empty.yaml", config.ErrEmpty, []string{
			`config file is empty: write at least one key (an empty file would silently reset every setting to its default)`,
		}},
		{"federation.yaml", nil, []string{
			`sp.contacts[0].email: required: the REFEDS security contact needs an e-mail address`,
			`sp.contacts[1].type: "abuse" is not a contact type: use technical, support, administrative, billing, other or security`,
			`sp.ui_info.display_name.de: required`,
			`sp.ui_info.display_name.en us: "en us" is not a language tag, like en or pt-BR`,
			`sp.ui_info.information_url.en: must be an absolute http or https URL`,
			`sp.ui_info.logos[0].width: must be a positive number of pixels`,
			`sp.ui_info.logos[0].lang: "english!" is not a language tag, like en or pt-BR`,
			`sp.requested_attributes[0].name: "mail" is not a URI, as name_format uri needs: write the urn:oid: name, or set name_format`,
			`sp.requested_attributes[2].name: "urn:oid:0.9.2342.19200300.100.1.3" is already requested by sp.requested_attributes[1]`,
			`sp.requested_attributes[2].name_format: "basic" is not a URI, like urn:oasis:names:tc:SAML:2.0:attrname-format:uri`,
			`sp.entity_categories[1]: "research and scholarship" is not an absolute URI, like http://refeds.org/category/research-and-scholarship`,
			`sp.entity_categories[2]: "http://refeds.org/category/research-and-scholarship" is already sp.entity_categories[0]`,
			`sp.discovery_response[0]: must be an absolute http or https URL`,
		}},
		{"requested-attributes.yaml", nil, []string{
			`sp.ui_info.display_name: required: requested_attributes are published in an AttributeConsumingService, whose ServiceName is the display name`,
		}},
		{"entity-id.yaml", nil, []string{
			`sp.entity_id: must be an absolute URI: an http or https URL, or a urn:`,
			`sp.base_url: "https:///saml" has no host: write an absolute URL, like https://sp.example.com/saml/acs`,
		}},
		{"idp-sources.yaml", nil, []string{
			`idp_sources[0].aggregate_url: must be an https URL (set allow_http: true only for tests)`,
			`idp_sources[0].signing_cert: required: the trust-store record whose certificate signs the federation's metadata`,
			`idp_sources[1].name: "fed" is already the name of idp_sources[0]: names must be unique`,
			`idp_sources[1].mdq_url: set one of aggregate_url, aggregate_file and mdq_url, not several`,
			`idp_sources[1].refresh: applies to aggregates only: an MDQ answer is cached for its own validUntil and cacheDuration`,
			`idp_sources[2].name: "my source" must not contain spaces or slashes (it names the source in logs, metrics and /readyz)`,
			`idp_sources[2].aggregate_url: required: set aggregate_url, aggregate_file or mdq_url`,
			`idp_sources[2].signature_algorithm: unknown signature algorithm "rsa-md5": use rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 or their XML-DSig URIs (rsa-sha1 only if the IdP cannot do better)`,
			`idp_sources[3].refresh: applies to aggregates only: an MDQ answer is cached for its own validUntil and cacheDuration`,
			`idp_sources[3].entity_ids[0]: must be an absolute URI: an http or https URL, or a urn:`,
			`idp_sources[3].entity_category[0]: "research" is not an absolute URI, like http://refeds.org/category/research-and-scholarship`,
		}},
		{"idp-http.yaml", nil, []string{
			`idps[1].sso.location: must be an https URL (set allow_http: true only for tests)`,
		}},
		{"idp-javascript.yaml", nil, []string{
			`idps[0].sso.location: must be an absolute http or https URL`,
			`idps[0].slo.location: must be an absolute http or https URL`,
		}},
		{"invalid-yaml.yaml", nil, []string{
			`yaml: line 2: did not find expected ',' or ']'`,
		}},
		{"listen-no-port.yaml", nil, []string{
			`listen: "localhost" is not host:port, like 127.0.0.1:8080 or :8080`,
		}},
		{"listen-port-range.yaml", nil, []string{
			`listen: port "99999" is not a number from 0 to 65535`,
		}},
		{"limits.yaml", nil, []string{
			`sp.limits.max_depth: must be positive (the default suits every IdP we know)`,
			`sp.limits.max_namespaces: 1000 is over 256: the signature code copies the in-scope prefixes at every element`,
			`sp.limits.max_value_length: must be positive (the default suits every IdP we know)`,
		}},
		{"log-level.yaml", nil, []string{
			`log_level: "verbose" is not a log level: use debug, info, warn or error`,
		}},
		{"many.yaml", nil, []string{
			`log_level: "loud" is not a log level: use debug, info, warn or error`,
			`sp.metadata.valid_for: must be a positive duration, like 24h`,
			`idps[0].sso.location: must be an https URL (set allow_http: true only for tests)`,
			`idps[0].sign_logout_request: needs slo.location: there is no single logout endpoint to send signed requests to`,
			`api.tokens[0].sha256: must be 64 hex digits, the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)`,
		}},
		{"metadata-fetchers.yaml", nil, []string{
			`idps[0].metadata_fetchers[1]: "idp.example.com" is not an IP address or network, like 192.0.2.10 or 192.0.2.0/24`,
			`idps[0].metadata_fetchers[2]: "2001:db8::/129" is not an IP address or network, like 192.0.2.10 or 192.0.2.0/24`,
			`idps[0].metadata_fetchers[3]: "fe80::1%eth0/64" carries an IPv6 zone (after %): write the address or network alone, like fe80::1 or fe80::/64`,
		}},
		{"store-timeout.yaml", nil, []string{
			`store_timeout: must be between 100ms and 10m, like 5s`,
		}},
		{"metadata-durations.yaml", nil, []string{
			`sp.clock_skew: must be between 0 and 1h, like 3m`,
			`sp.metadata.cache_duration: 48h is longer than sp.metadata.valid_for (24h): caches would keep metadata past its validUntil`,
			`rotation.encryption.rotate_before: must be a positive duration, like 24h`,
			`rotation.encryption.publish_for: must be a positive duration, like 24h`,
			`alerts.thresholds[1]: must be a positive duration, like 24h`,
		}},
		{"not-a-mapping.yaml", nil, []string{
			`the top level must be a mapping of keys, like listen: 127.0.0.1:8080`,
		}},
		{"properties.yaml", config.ErrRequired, []string{
			`properties[0].name: required`,
			`properties[1].value: required: the id of a certificate record`,
			`properties[2].name: "glide.authenticate.sso.saml2.keystore" is already the name of properties[1]: names must be unique`,
		}},
		{"signature-algorithm.yaml", nil, []string{
			`sp.metadata.signature_algorithm: unknown signature algorithm "http://www.w3.org/2000/09/xmldsig#dsa-sha1": use rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 or their XML-DSig URIs (rsa-sha1 only if the IdP cannot do better)`,
			`idps[0].signature_algorithm: unknown signature algorithm "rsa-sha224": use rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 or their XML-DSig URIs (rsa-sha1 only if the IdP cannot do better)`,
			`idps[0].digest_algorithm: unknown digest algorithm "md5": use sha256, sha384, sha512 or their XML-DSig URIs`,
		}},
		{"tokens.yaml", nil, []string{
			`api.tokens[0].sha256: must be 64 hex digits, the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)`,
			`api.tokens[1].sha256: must be 64 hex digits, the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)`,
			`api.tokens[1].scopes[1]: "root" is not a scope: use sign or admin`,
			`api.tokens[2].scopes: required: sign, admin or both`,
		}},
		{"sp-binding.yaml", nil, []string{
			`sp.acs[1].binding: "artifact" is refused: samlkeyd serves no artifact resolution, SOAP or PAOS endpoint, and metadata must not advertise one; use post or redirect`,
			`sp.acs[2].binding: "urn:oasis:names:tc:SAML:2.0:bindings:PAOS" is refused: samlkeyd serves no artifact resolution, SOAP or PAOS endpoint, and metadata must not advertise one; use post or redirect`,
			`sp.acs[2].response_location: only single logout endpoints have a response_location`,
			`sp.slo[0].binding: "soap" is refused: samlkeyd serves no artifact resolution, SOAP or PAOS endpoint, and metadata must not advertise one; use post or redirect`,
			`sp.slo[1].response_location: must be an absolute http or https URL`,
			`idps[0].sso.response_location: only single logout endpoints have a response_location`,
			`idps[0].sign_logout_response: needs slo.location: there is no single logout endpoint to send signed responses to`,
		}},
		{"type-mismatch.yaml", nil, []string{
			`listen: must be a string, not a list`,
			`sp.want_assertions_signed: "sometimes" is not true or false`,
		}},
		{"unknown-key.yaml", config.ErrUnknownKey, []string{
			`lisen: unknown key (did you mean listen?)`,
			`sp.metadata.cach_duration: unknown key (did you mean cache_duration?)`,
		}},
	}
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("testdata/bad holds %d fixtures, the table %d: give every fixture its expected error", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tt.file)
			c, err := config.Load(config.LoadOptions{File: path, Env: noEnv})
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", path, c)
			}
			if c != nil {
				t.Errorf("Load(%s) returned a config along with its error", path)
			}
			want := `load config "` + path + `": ` + strings.Join(tt.problems, "\n")
			if err.Error() != want {
				t.Errorf("Load(%s) error:\n%s\nwant:\n%s", path, err, want)
			}
			if got := len(config.Problems(err)); got != len(tt.problems) {
				t.Errorf("Problems() split the error into %d, want %d", got, len(tt.problems))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(err, %v) = false", tt.is)
			}
			// Parse of the same bytes reports the same problems.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			_, perr := config.Parse(data)
			if perr == nil || perr.Error() != "parse config: "+strings.TrimPrefix(want, `load config "`+path+`": `) {
				t.Errorf("Parse() error = %v, want the same problems as Load", perr)
			}
		})
	}
}

// TestGoodFixtures loads every fixture in testdata/good without error.
func TestGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good fixtures: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			if _, refused := fipsFixtures()[filepath.Base(path)]; refused && fips.Enabled() {
				t.Skip("refused in FIPS 140-3 mode: TestFIPSFixtures checks how")
			}
			if _, err := config.Load(config.LoadOptions{File: path, Env: noEnv}); err != nil {
				t.Fatalf("Load(%s): %v", path, err)
			}
		})
	}
}

// TestDefaults: no file, no environment, no flags is a working config whose
// SP URLs derive from the listen address.
func TestDefaults(t *testing.T) {
	allowCBC := true
	c, err := config.Load(config.LoadOptions{Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		Listen:         "127.0.0.1:8080",
		Data:           "./samlkeyd-data",
		StoreTimeout:   5 * time.Second,
		LogLevel:       "info",
		MaxConnections: 1024,
		SP: config.SP{
			EntityID:             "http://127.0.0.1:8080/saml/metadata",
			BaseURL:              "http://127.0.0.1:8080",
			ACS:                  []config.Endpoint{{Binding: "post", Location: "http://127.0.0.1:8080/saml/acs", Index: 0, Default: true}},
			NameIDFormats:        []string{"urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
			WantAssertionsSigned: true,
			ClockSkew:            3 * time.Minute,
			AllowCBC:             &allowCBC,
			Limits: config.XMLLimits{MaxDepth: 64, MaxElements: 20000, MaxAttributes: 64, MaxAttributesTotal: 40000, MaxNamespaces: 32,
				MaxNamespaceDeclarations: 20000, MaxNameLength: 256, MaxValueLength: 65536, MaxTextLength: 1 << 20},
			Metadata: config.Metadata{ValidFor: 48 * time.Hour, CacheDuration: 24 * time.Hour},
		},
		Alerts: config.Alerts{Thresholds: []time.Duration{1440 * time.Hour, 720 * time.Hour, 336 * time.Hour, 168 * time.Hour, 72 * time.Hour, 24 * time.Hour},
			DecryptFailureBurst: 20},
	}
	if diff := compare(c, &want); diff != "" {
		t.Errorf("defaults differ:\n%s", diff)
	}
}

// compare returns the YAML of got and want when they differ.
func compare(got, want *config.Config) string {
	g, err1 := config.Marshal(got)
	w, err2 := config.Marshal(want)
	if err1 != nil || err2 != nil {
		return "marshal: " + errors.Join(err1, err2).Error()
	}
	if string(g) != string(w) {
		return "got:\n" + string(g) + "want:\n" + string(w)
	}
	return ""
}

// TestPrecedence: defaults < file < SAMLKEYD_* environment < flags the user
// set; a flag left at its default overrides nothing.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9000\ndata: /from/file\nsp:\n  metadata: {valid_for: 72h}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newFlags := func(args ...string) *pflag.FlagSet {
		fs := pflag.NewFlagSet("samlkeyd", pflag.ContinueOnError)
		fs.String("config", "", "")
		fs.String("listen", "127.0.0.1:8080", "")
		fs.String("data", "", "")
		fs.String("database-url", "", "")
		fs.String("log-level", "info", "")
		fs.StringSlice("sp-name-id-formats", nil, "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags *pflag.FlagSet
		check func(t *testing.T, c *config.Config)
	}{
		{"file over defaults", file, nil, nil, func(t *testing.T, c *config.Config) {
			eq(t, "listen", c.Listen, "127.0.0.1:9000")
			eq(t, "data", c.Data, "/from/file")
			eq(t, "valid_for", c.SP.Metadata.ValidFor, 72*time.Hour)
			eq(t, "cache_duration (default kept beside a file value)", c.SP.Metadata.CacheDuration, 24*time.Hour)
			eq(t, "entity_id derived from the file's listen", c.SP.EntityID, "http://127.0.0.1:9000/saml/metadata")
		}},
		{"env over file", file, map[string]string{
			"SAMLKEYD_LISTEN":                "0.0.0.0:9100",
			"SAMLKEYD_SP_ENTITY_ID":          "https://sp.example.com/saml/metadata",
			"SAMLKEYD_DATABASE_URL":          "postgres://u@db/samlkeyd",
			"SAMLKEYD_SP_METADATA_VALID_FOR": "96h",
			"SAMLKEYD_SP_METADATA_SIGNED":    "true",
			"SAMLKEYD_ALERTS_THRESHOLDS":     "720h,24h",
			"SAMLKEYD_DATA":                  "", // empty counts as unset
		}, nil, func(t *testing.T, c *config.Config) {
			eq(t, "listen", c.Listen, "0.0.0.0:9100")
			eq(t, "entity_id", c.SP.EntityID, "https://sp.example.com/saml/metadata")
			eq(t, "base_url derived, unspecified host named localhost", c.SP.BaseURL, "http://localhost:9100")
			eq(t, "database_url", c.DatabaseURL, "postgres://u@db/samlkeyd")
			eq(t, "valid_for", c.SP.Metadata.ValidFor, 96*time.Hour)
			eq(t, "signed", c.SP.Metadata.Signed, true)
			eq(t, "thresholds", c.Alerts.Thresholds, []time.Duration{720 * time.Hour, 24 * time.Hour})
			eq(t, "data", c.Data, "/from/file")
		}},
		{"flags over env", file, map[string]string{"SAMLKEYD_LISTEN": "0.0.0.0:9100", "SAMLKEYD_DATA": "/from/env"},
			newFlags("--listen", "127.0.0.1:9200", "--database-url", "postgres://flag@db/x", "--config", "ignored.yaml", "--sp-name-id-formats", "urn:a,urn:b"),
			func(t *testing.T, c *config.Config) {
				eq(t, "listen", c.Listen, "127.0.0.1:9200")
				eq(t, "data (flag not set: env wins)", c.Data, "/from/env")
				eq(t, "database_url", c.DatabaseURL, "postgres://flag@db/x")
				eq(t, "log_level (flag default does not override)", c.LogLevel, "info")
				eq(t, "name_id_formats", c.SP.NameIDFormats, []string{"urn:a", "urn:b"})
			}},
		{"unset flags override nothing", file, nil, newFlags(), func(t *testing.T, c *config.Config) {
			eq(t, "listen", c.Listen, "127.0.0.1:9000")
		}},
		{"no file: env and flags only", "", map[string]string{"SAMLKEYD_SP_BASE_URL": "https://sp.example.com/"}, newFlags("--log-level", "debug"),
			func(t *testing.T, c *config.Config) {
				eq(t, "entity_id derived from base_url", c.SP.EntityID, "https://sp.example.com/saml/metadata")
				eq(t, "acs derived from base_url", c.SP.ACS[0].Location, "https://sp.example.com/saml/acs")
				eq(t, "log_level", c.LogLevel, "debug")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.LoadOptions{File: tt.file, Env: envOf(tt.env), Flags: tt.flags})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestEnvInvalid: a bad value from the environment is reported under its
// key path like one from the file.
func TestEnvInvalid(t *testing.T) {
	_, err := config.Load(config.LoadOptions{Env: envOf(map[string]string{
		"SAMLKEYD_SP_METADATA_CACHE_DURATION": "1w",
		"SAMLKEYD_LISTEN":                     "nowhere",
	})})
	want := `load config: sp.metadata.cache_duration: "1w" is not a duration: write a number with a unit, like 48h, 30m or 10s (days are not a unit: 7 days is 168h)` + "\n" +
		`listen: "nowhere" is not host:port, like 127.0.0.1:8080 or :8080`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(config.LoadOptions{File: path, Env: noEnv})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

// TestExample: examples/samlkeyd.yaml loads, validates and sets every key
// the Config struct has, so the example documents all of them.
func TestExample(t *testing.T) {
	const path = "../examples/samlkeyd.yaml"
	c, err := config.Load(config.LoadOptions{File: path, Env: noEnv})
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if c.SP.EntityID != "https://sp.example.com/saml/metadata" || len(c.IdPs) != 2 || c.Rotation.Signing == nil {
		t.Errorf("example loaded as %+v", c)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	rawPaths(raw, "", have)
	// Endpoint is shared: index and default apply to sp.acs only,
	// response_location to single logout endpoints only (Validate rejects
	// them elsewhere).
	notApplicable := map[string]bool{
		"sp.slo[].index": true, "sp.slo[].default": true,
		"idps[].sso.index": true, "idps[].sso.default": true,
		"idps[].slo.index": true, "idps[].slo.default": true,
		"sp.acs[].response_location": true, "idps[].sso.response_location": true,
	}
	for _, p := range structPaths(reflect.TypeFor[config.Config](), "") {
		if !have[p] && !notApplicable[p] {
			t.Errorf("%s: key %s is missing: document every key", path, p)
		}
	}
}

// rawPaths collects the key paths of a YAML tree, list items as [].
func rawPaths(v any, prefix string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			rawPaths(x, p, out)
		}
	case []any:
		for _, x := range v {
			rawPaths(x, prefix+"[]", out)
		}
	}
}

// structPaths lists every key path of t, list items as [], maps as leaves.
func structPaths(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "-" {
			continue // parsed from another key, not a key itself
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		out = append(out, p)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]():
			out = append(out, structPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, structPaths(ft.Elem(), p+"[]")...)
		}
	}
	return out
}

func TestKeysHaveEnvAndFlagNames(t *testing.T) {
	keys := config.Keys()
	for _, want := range []string{"listen", "data", "database_url", "master_key_file", "store_timeout", "log_level", "sp.entity_id", "sp.metadata.valid_for", "alerts.thresholds", "alerts.smtp.to"} {
		if !slices.Contains(keys, want) {
			t.Errorf("Keys() lacks %q", want)
		}
	}
	for _, k := range keys {
		if strings.Contains(k, "idps") || strings.Contains(k, "headers") {
			t.Errorf("Keys() has %q: list items and maps cannot come from the environment", k)
		}
	}
	eq(t, "EnvName", config.EnvName("sp.entity_id"), "SAMLKEYD_SP_ENTITY_ID")
	eq(t, "FlagName", config.FlagName("database_url"), "database-url")
}

func TestBindingURN(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"post", config.BindingPOST, ""},
		{"POST", config.BindingPOST, ""},
		{"redirect", config.BindingRedirect, ""},
		{"HTTP-Redirect", config.BindingRedirect, ""},
		{"artifact", config.BindingArtifact, ""},
		{"soap", config.BindingSOAP, ""},
		{"paos", config.BindingPAOS, ""},
		{"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", config.BindingPOST, ""},
		{"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign", "", `unknown binding "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST-SimpleSign": use post, redirect, artifact, soap, paos or the binding URN`},
		{"", "", `unknown binding "": use post, redirect, artifact, soap, paos or the binding URN`},
		{"javascript:alert(1)", "", `unknown binding "javascript:alert(1)": use post, redirect, artifact, soap, paos or the binding URN`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.BindingURN(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err || !errors.Is(err, config.ErrUnknownBinding) {
					t.Errorf("BindingURN(%q) error = %v, want %s", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("BindingURN(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestValidateBuiltConfig: Validate works on a Config built in code, not
// only on loaded ones (and fills its parsed values: TestValidateFillsParsed).
func TestValidateBuiltConfig(t *testing.T) {
	c, err := config.Load(config.LoadOptions{Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	bad := *c
	bad.IdPs = []config.IdP{{Name: "x", EntityID: "urn:x", SSO: config.Endpoint{Binding: "post", Location: "https://idp.example.com/sso"}, SignatureAlgorithm: "rsa-sha1"}}
	if err := bad.Validate(); fips.Enabled() {
		if !errors.Is(err, fips.ErrRefused) {
			t.Errorf("rsa-sha1 in FIPS 140-3 mode: %v, want the refusal", err)
		}
		bad.IdPs[0].SignatureAlgorithm = ""
	} else if err != nil {
		t.Errorf("rsa-sha1 written explicitly must be accepted: %v", err)
	}
	bad.IdPs[0].SSO.Location = "https://idp.example.com:99999/sso"
	bad.API.Tokens = []config.Token{{Name: "t", SHA256: strings.Repeat("ab", 32), Scopes: []string{"admin"}}}
	err = bad.Validate()
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != "idps[0].sso.location" {
		t.Errorf("Validate() = %v, want a FieldError for idps[0].sso.location", err)
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://samlkeyd:s3cret@db.example.com:5432/samlkeyd", "postgres://samlkeyd:xxxxx@db.example.com:5432/samlkeyd"},
		{"postgres://samlkeyd@db.example.com/samlkeyd?password=s3cret&sslmode=require", "postgres://samlkeyd@db.example.com/samlkeyd?password=xxxxx&sslmode=require"},
		{"host=db user=samlkeyd password=s3cret dbname=samlkeyd", "host=db user=samlkeyd password=xxxxx dbname=samlkeyd"},
		{"host=db password='s3 cret' dbname=samlkeyd", "host=db password=xxxxx dbname=samlkeyd"},
		{"postgres://samlkeyd@db/samlkeyd", "postgres://samlkeyd@db/samlkeyd"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := &config.Config{DatabaseURL: tt.in}
			eq(t, "database_url", c.Redacted().DatabaseURL, tt.want)
			eq(t, "original", c.DatabaseURL, tt.in)
		})
	}

	c, err := config.Parse([]byte(`
database_url: postgres://u:dbpass@db/x
idps: [{name: a, entity_id: "urn:a", sso: {binding: post, location: "https://idp/sso"}, metadata_url: "https://m:mdpass@idp/md"}]
profiles: [{name: mhttps, keystore: k}]
checks: [{name: c, url: "mhttps://partner/health", schedule: "@hourly", headers: {Authorization: "Bearer hdrsecret"}}]
alerts: {webhook: {url: "https://hook:hookpass@hooks.example.com/x"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := config.Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"dbpass", "mdpass", "hdrsecret", "hookpass"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("Marshal(Redacted()) shows %q:\n%s", secret, out)
		}
	}
	if c.Checks[0].Headers["authorization"] != "Bearer hdrsecret" || c.Alerts.Webhook.URL != "https://hook:hookpass@hooks.example.com/x" {
		t.Errorf("Redacted changed the original: %+v", c)
	}
}

// TestMarshalRoundTrip: Marshal writes what Parse reads back to the same
// config, with durations written as in the file.
func TestMarshalRoundTrip(t *testing.T) {
	data, err := os.ReadFile("../examples/samlkeyd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := config.Parse(out)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, out)
	}
	if diff := compare(c2, c); diff != "" {
		t.Error(diff)
	}
	for _, want := range []string{"valid_for: 48h\n", "timeout: 10s\n", "- 1440h\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal output lacks %q", want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		48 * time.Hour: "48h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
		0: "0s", 1500 * time.Millisecond: "1.5s", -2 * time.Hour: "-2h", 5 * time.Minute: "5m",
	} {
		eq(t, d.String(), config.FormatDuration(d), want)
	}
}

// TestMetadataAlgorithmShortName: the metadata signer takes URIs, so Load
// turns a short name into its URI.
func TestMetadataAlgorithmShortName(t *testing.T) {
	for name, uri := range map[string]string{
		"rsa-sha512":   "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
		"ecdsa-sha384": "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
		"rsa-sha1":     "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
		"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
	} {
		c, err := config.Parse([]byte("sp: {metadata: {signed: true, signature_algorithm: \"" + name + "\"}}\n"))
		if name == "rsa-sha1" && fips.Enabled() {
			if !errors.Is(err, fips.ErrRefused) {
				t.Errorf("rsa-sha1 in FIPS 140-3 mode: %v, want the refusal", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		eq(t, name, c.SP.Metadata.SignatureAlgorithm, uri)
	}
}

func TestMinTLSVersion(t *testing.T) {
	for v, want := range map[string]string{
		"1.2": "", "TLS1.3": "", "13": "", "v1.2": "",
		"1.1": `profiles[0].min_tls_version: "1.1" is not allowed: TLS 1.0 and 1.1 are obsolete; use 1.2 or 1.3`,
		"2.0": `profiles[0].min_tls_version: "2.0": use 1.2 or 1.3`,
	} {
		_, err := config.Parse([]byte("profiles: [{name: mhttps, keystore: k, min_tls_version: \"" + v + "\"}]\n"))
		got := ""
		if err != nil {
			got = strings.TrimPrefix(err.Error(), "parse config: ")
		}
		eq(t, v, got, want)
	}
}

// TestLoadConcurrent: each Load has its own viper instance, so loads from
// several goroutines (a reload racing a SIGHUP) share nothing; run with -race.
func TestLoadConcurrent(t *testing.T) {
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			port := strconv.Itoa(9100 + i)
			c, err := config.Load(config.LoadOptions{File: "../examples/samlkeyd.yaml", Env: envOf(map[string]string{"SAMLKEYD_LISTEN": "127.0.0.1:" + port})})
			if err == nil && c.Listen != "127.0.0.1:"+port {
				err = errors.New("load " + port + " saw listen " + c.Listen)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkLoad is the cost config adds to a cold start or a reload: the
// example file with every key, through viper, decoding and validation.
func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := config.Load(config.LoadOptions{File: "../examples/samlkeyd.yaml", Env: noEnv}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEnvMergesIntoFileSection: an environment variable sets one key of a
// section the file sets partly; the file's other keys stay.
func TestEnvMergesIntoFileSection(t *testing.T) {
	file := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("alerts:\n  smtp: {addr: 'smtp.example.com:587', to: [sso@example.com]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.LoadOptions{File: file, Env: envOf(map[string]string{"SAMLKEYD_ALERTS_SMTP_FROM": "samlkeyd@example.com"})})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "smtp", *c.Alerts.SMTP, config.SMTP{Addr: "smtp.example.com:587", From: "samlkeyd@example.com", To: []string{"sso@example.com"}})
	if _, err := config.Load(config.LoadOptions{File: file, Env: noEnv}); err == nil || !strings.Contains(err.Error(), "alerts.smtp.from: required") {
		t.Errorf("without the variable: %v, want alerts.smtp.from required", err)
	}
}
