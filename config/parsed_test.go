package config_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/pflag"

	"github.com/samlkeyd/samlkeyd/config"
)

// parsedYAML sets every key whose value is parsed at load.
const parsedYAML = `
trusted_proxies: ["10.0.0.1", "2001:db8::/64"]
idps:
  - name: corp
    entity_id: https://idp.example.com/metadata
    sso: {binding: redirect, location: "https://idp.example.com/sso"}
    metadata_fetchers: ["192.0.2.0/24", "2001:db8::7", "198.51.100.9", "10.1.2.3/8"]
  - name: other
    entity_id: https://other.example.com/metadata
    sso: {binding: post, location: "https://other.example.com/sso"}
profiles:
  - {name: mhttps, keystore: A}
checks:
  - {name: five, url: "mhttps://a.example/health", schedule: "*/5 * * * *"}
  - {name: every, url: "mhttps://a.example/health", schedule: "@every 90s"}
rotation:
  signing: {rotate_before: 720h, publish_for: 168h, retire_after: 168h, schedule: "@daily"}
`

// TestParsedValues: Load parses schedules and fetcher networks once, into
// the Parsed… fields, and Marshal (config print) shows only what the file
// says.
func TestParsedValues(t *testing.T) {
	c, err := config.Parse([]byte(parsedYAML))
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		what  string
		sched cron.Schedule
		want  time.Time
	}{
		{"checks[0]", c.Checks[0].ParsedSchedule, time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)},
		{"checks[1]", c.Checks[1].ParsedSchedule, from.Add(90 * time.Second)},
		{"rotation.signing", c.Rotation.Signing.ParsedSchedule, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
	} {
		if tc.sched == nil {
			t.Errorf("%s: schedule not parsed", tc.what)
			continue
		}
		if got := tc.sched.Next(from); !got.Equal(tc.want) {
			t.Errorf("%s: next run %s, want %s", tc.what, got, tc.want)
		}
	}
	wantNets := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("2001:db8::7/128"),
		netip.MustParsePrefix("198.51.100.9/32"),
		netip.MustParsePrefix("10.1.2.3/8"), // as written; Contains compares the leading 8 bits
	}
	eq(t, "idps[0] fetchers", c.IdPs[0].ParsedFetchers, wantNets)
	eq(t, "idps[1] fetchers", c.IdPs[1].ParsedFetchers, []netip.Prefix(nil))
	eq(t, "trusted proxies", c.ParsedTrustedProxies, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("2001:db8::/64")})
	eq(t, "fetchers as written", c.IdPs[0].MetadataFetchers, []string{"192.0.2.0/24", "2001:db8::7", "198.51.100.9", "10.1.2.3/8"})

	r := c.Redacted()
	if r.Checks[0].ParsedSchedule == nil || len(r.IdPs[0].ParsedFetchers) != 4 {
		t.Error("Redacted dropped parsed values")
	}

	out, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, unwanted := range []string{"parsed", "Parsed", "/128", "/32"} {
		if strings.Contains(string(out), unwanted) {
			t.Errorf("Marshal output shows %q:\n%s", unwanted, out)
		}
	}
	for _, want := range []string{"- 2001:db8::7\n", "schedule: '*/5 * * * *'\n", "schedule: '@daily'\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("Marshal output lacks %q:\n%s", want, out)
		}
	}
	c2, err := config.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "fetchers after a round trip", c2.IdPs[0].ParsedFetchers, wantNets)
}

// TestValidateFillsParsed: a Config built in code gets its parsed values
// from Validate; a wrong spec leaves none.
func TestValidateFillsParsed(t *testing.T) {
	c, err := config.Load(config.LoadOptions{Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	built := *c
	built.Profiles = []config.Profile{{Name: "mhttps", Keystore: "A"}}
	built.Checks = []config.Check{{Name: "a", URL: "mhttps://a.example/", Schedule: "@hourly"}}
	built.Rotation.Encryption = &config.RotationPolicy{RotateBefore: 720 * time.Hour, PublishFor: 168 * time.Hour, RetireAfter: 168 * time.Hour, Schedule: "0 3 * * *"}
	built.IdPs = []config.IdP{{Name: "x", EntityID: "urn:x", SSO: config.Endpoint{Binding: "post", Location: "https://idp.example.com/sso"},
		MetadataFetchers: []string{"192.0.2.1"}}}
	if built.Checks[0].ParsedSchedule != nil {
		t.Fatal("parsed before Validate")
	}
	if err := built.Validate(); err != nil {
		t.Fatal(err)
	}
	if built.Checks[0].ParsedSchedule == nil || built.Rotation.Encryption.ParsedSchedule == nil {
		t.Error("Validate did not parse the schedules")
	}
	eq(t, "fetchers", built.IdPs[0].ParsedFetchers, []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")})

	built.Checks[0].Schedule = "@sometimes"
	if err := built.Validate(); err == nil || !strings.Contains(err.Error(), `checks[0].schedule: "@sometimes"`) {
		t.Errorf("Validate(bad spec) = %v", err)
	}
	if built.Checks[0].ParsedSchedule != nil {
		t.Error("a wrong spec kept the schedule parsed from the previous one")
	}
}

// TestParseSchedule: seconds are optional, descriptors work, anything else
// is an error that quotes the spec.
func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		spec string
		next time.Time // zero = must fail
	}{
		{"*/5 * * * *", from.Add(5 * time.Minute)},
		{"30 */5 * * * *", from.Add(30 * time.Second)},
		{"@every 90s", from.Add(90 * time.Second)},
		{"@hourly", from.Add(time.Hour)},
		{"0 0 * * *", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{"", time.Time{}},
		{"61 * * * *", time.Time{}},
		{"* * * *", time.Time{}},
		{"* * * * * * *", time.Time{}},
		{"@every 5 minutes", time.Time{}},
		{"@fortnightly", time.Time{}},
		{"bogus", time.Time{}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := config.ParseSchedule(tc.spec)
			if tc.next.IsZero() {
				if err == nil || (tc.spec != "" && !strings.HasPrefix(err.Error(), `"`+tc.spec+`": `)) {
					t.Fatalf("ParseSchedule(%q) = %v; want an error quoting the spec", tc.spec, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.next) {
				t.Errorf("next %s, want %s", got, tc.next)
			}
		})
	}
}

// TestEnvSchedule: a schedule from the environment is parsed like one from
// the file, and a wrong one is reported under its key path.
func TestEnvSchedule(t *testing.T) {
	file := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("rotation:\n  signing: {rotate_before: 720h, publish_for: 168h, retire_after: 168h, schedule: '@daily'}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(config.LoadOptions{File: file, Env: envOf(map[string]string{"SAMLKEYD_ROTATION_SIGNING_SCHEDULE": "@every 2h"})})
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if got := c.Rotation.Signing.ParsedSchedule.Next(from); !got.Equal(from.Add(2 * time.Hour)) {
		t.Errorf("next run %s: the environment's schedule was not the one parsed", got)
	}
	_, err = config.Load(config.LoadOptions{File: file, Env: envOf(map[string]string{"SAMLKEYD_ROTATION_SIGNING_SCHEDULE": "@fortnightly"})})
	want := `load config "` + file + `": rotation.signing.schedule: "@fortnightly": unrecognized descriptor: @fortnightly`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// TestLogLevelPrecedence: log_level comes from the --log-level flag the
// user set, else SAMLKEYD_LOG_LEVEL, else the file, else info; a wrong
// value from any of them names the key.
func TestLogLevelPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("log_level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := func(args ...string) *pflag.FlagSet {
		fs := pflag.NewFlagSet("samlkeyd", pflag.ContinueOnError)
		fs.String("log-level", "info", "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return fs
	}
	for _, tc := range []struct {
		name  string
		file  string
		env   map[string]string
		flags *pflag.FlagSet
		want  string
	}{
		{"default", "", nil, flags(), "info"},
		{"file", file, nil, flags(), "warn"},
		{"environment over file", file, map[string]string{"SAMLKEYD_LOG_LEVEL": "debug"}, flags(), "debug"},
		{"flag over environment", file, map[string]string{"SAMLKEYD_LOG_LEVEL": "debug"}, flags("--log-level", "error"), "error"},
		{"flag left at its default overrides nothing", file, map[string]string{"SAMLKEYD_LOG_LEVEL": "debug"}, flags(), "debug"},
		{"wrong in the environment", file, map[string]string{"SAMLKEYD_LOG_LEVEL": "loud"}, flags(),
			`log_level: "loud" is not a log level: use debug, info, warn or error`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(config.LoadOptions{File: tc.file, Env: envOf(tc.env), Flags: tc.flags})
			got := ""
			if err != nil {
				got = strings.TrimPrefix(err.Error(), `load config "`+file+`": `)
			} else {
				got = c.LogLevel
			}
			eq(t, "log_level", got, tc.want)
		})
	}
}
