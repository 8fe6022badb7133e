package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

func TestNewProfileErrors(t *testing.T) {
	p := newPKI(t)
	certOnly := &keys.Entry{Alias: "partner root", Chain: []*x509.Certificate{p.serverCA.cert}}
	for _, tc := range []struct {
		name    string
		cfg     config.Profile
		client  *keys.Entry
		trust   []*x509.Certificate
		want    string
		wantErr error
	}{
		{name: "keystore without private key", cfg: cfgProfile("mhttps"), client: certOnly,
			want:    `protocol profile "mhttps" keystore "Partner mTLS": keystore has no private key: choose a certificate record made from a keystore with a key entry`,
			wantErr: ErrNoPrivateKey},
		{name: "no keystore", cfg: cfgProfile("mhttps"), client: nil, wantErr: ErrNoPrivateKey,
			want: `protocol profile "mhttps" keystore "Partner mTLS": keystore has no private key: choose a certificate record made from a keystore with a key entry`},
		{name: "TLS 1.1", cfg: config.Profile{Name: "mhttps", MinTLSVersion: "1.1"}, client: p.good,
			want: `protocol profile "mhttps" min_tls_version: "1.1" is not allowed: TLS 1.0 and 1.1 are obsolete; use 1.2 or 1.3`},
		{name: "not a version", cfg: config.Profile{Name: "mhttps", MinTLSVersion: "1.4"}, client: p.good,
			want: `protocol profile "mhttps" min_tls_version: "1.4" is not a TLS version: use 1.2 or 1.3`},
		{name: "trust entry not a certificate", cfg: cfgProfile("mhttps"), client: p.good, trust: []*x509.Certificate{p.serverCA.cert, nil},
			want: `protocol profile "mhttps" trust_store[1]: not a certificate`},
		{name: "empty name", cfg: config.Profile{}, client: p.good, want: `protocol profile: name is empty`},
		{name: "name is not a scheme", cfg: config.Profile{Name: "mhttps://"}, client: p.good,
			want: `protocol profile "mhttps://": name must be a bare URL scheme such as mhttps`},
		{name: "port out of range", cfg: config.Profile{Name: "mhttps", DefaultPort: 70000}, client: p.good,
			want: `protocol profile "mhttps": default_port 70000 is out of range 1-65535`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewProfile(tc.cfg, tc.client, tc.trust)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got %v\nwant %s", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewProfileDefaults(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		in   string
		want uint16
	}{{"", tls.VersionTLS12}, {"1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}, {"tls13", tls.VersionTLS13}} {
		t.Run("min "+tc.in, func(t *testing.T) {
			prof, err := NewProfile(config.Profile{Name: "mhttps", MinTLSVersion: tc.in}, p.good, nil)
			if err != nil {
				t.Fatal(err)
			}
			if prof.minVersion != tc.want || prof.DefaultPort() != 443 || prof.roots != nil {
				t.Errorf("min %x port %d roots %v", prof.minVersion, prof.DefaultPort(), prof.roots)
			}
		})
	}
}

func TestNewCheck(t *testing.T) {
	p := newPKI(t)
	mh, err := NewProfile(config.Profile{Name: "mhttps", Keystore: "k", DefaultPort: 8443}, p.good, nil)
	if err != nil {
		t.Fatal(err)
	}
	profiles := map[string]*Profile{"mhttps": mh}
	base := func(url string) config.Check {
		return parsed(t, config.Check{Name: "partner", URL: url, Schedule: "@every 5m"})
	}
	t.Run("valid", func(t *testing.T) {
		for _, tc := range []struct {
			name, url, profile, target string
		}{
			{"profile scheme uses its default port", "mhttps://api.partner.example/health?x=1", "", "https://api.partner.example:8443/health?x=1"},
			{"explicit port wins", "MHTTPS://api.partner.example:9443/h", "", "https://api.partner.example:9443/h"},
			{"https with profile uses 443", "https://api.partner.example/h", "mhttps", "https://api.partner.example:443/h"},
			{"IPv6 literal", "mhttps://[::1]:9443/", "", "https://[::1]:9443/"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := base(tc.url)
				cfg.Profile = tc.profile
				c, err := NewCheck(cfg, profiles)
				if err != nil {
					t.Fatal(err)
				}
				if c.target.String() != tc.target || c.method != "GET" || c.timeout != DefaultTimeout || c.Profile() != mh {
					t.Errorf("target %s method %s timeout %s", c.target, c.method, c.timeout)
				}
			})
		}
	})
	for _, tc := range []struct {
		name    string
		mut     func(*config.Check)
		want    string
		wantErr error
	}{
		{name: "unknown profile scheme", mut: func(c *config.Check) { c.URL = "xhttps://h/" }, wantErr: ErrUnknownProfile,
			want: `check "partner" url: unknown protocol profile "xhttps": the URL scheme must name a protocol profile`},
		{name: "https without profile", mut: func(c *config.Check) { c.URL = "https://h/" },
			want: `check "partner" profile: an https:// URL needs profile: naming a protocol profile`},
		{name: "https with unknown profile", mut: func(c *config.Check) { c.URL = "https://h/"; c.Profile = "nope" }, wantErr: ErrUnknownProfile,
			want: `check "partner" profile: unknown protocol profile "nope"`},
		{name: "plain http", mut: func(c *config.Check) { c.URL = "http://h/" },
			want: `check "partner" url: "http://h/": plain http cannot carry a client certificate; use https:// with profile: or a profile scheme such as mhttps://`},
		{name: "no host", mut: func(c *config.Check) { c.URL = "mhttps:///health" },
			want: `check "partner" url: "mhttps:///health" has no host: write it as mhttps://host[:port]/path`},
		{name: "user info", mut: func(c *config.Check) { c.URL = "mhttps://u:pw@h/" },
			want: `check "partner" url: "mhttps://u:xxxxx@h/" carries user info: put credentials in headers`},
		{name: "port out of range", mut: func(c *config.Check) { c.URL = "mhttps://h:0/" },
			want: `check "partner" url: port "0" is out of range 1-65535`},
		{name: "profile contradicts scheme", mut: func(c *config.Check) { c.Profile = "other" },
			want: `check "partner" profile: "other" contradicts the URL scheme "mhttps"; drop profile: or use https://`},
		{name: "bad method", mut: func(c *config.Check) { c.Method = "GE T" },
			want: `check "partner" method: "GE T" is not an HTTP method`},
		{name: "bad status", mut: func(c *config.Check) { c.ExpectStatus = []int{200, 99} },
			want: `check "partner" expect_status: 99 is not an HTTP status`},
		{name: "negative timeout", mut: func(c *config.Check) { c.Timeout = -time.Second },
			want: `check "partner" timeout: -1s is negative`},
		{name: "bad header name", mut: func(c *config.Check) { c.Headers = map[string]string{"X Bad": "v"} },
			want: `check "partner" headers: "X Bad" is not a header name`},
		{name: "header injection", mut: func(c *config.Check) { c.Headers = map[string]string{"X-A": "v\r\nX-B: w"} },
			want: `check "partner" headers: value of "X-A" contains a line break`},
		{name: "schedule not parsed", mut: func(c *config.Check) { c.ParsedSchedule = nil },
			want: `check "partner" schedule: "@every 5m" was not parsed: load the config with config.Load, or call Config.Validate on one built in code`},
		{name: "no name", mut: func(c *config.Check) { c.Name = "" }, want: `check: name is empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base("mhttps://api.partner.example/health")
			tc.mut(&cfg)
			_, err := NewCheck(cfg, profiles)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n got %v\nwant %s", err, tc.want)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
		})
	}
}

// parsed returns c as config validation leaves it: its schedule parsed.
func parsed(t testing.TB, c config.Check) config.Check {
	t.Helper()
	s, err := config.ParseSchedule(c.Schedule)
	if err != nil {
		t.Fatalf("check %q: %v", c.Name, err)
	}
	c.ParsedSchedule = s
	return c
}
