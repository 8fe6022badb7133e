package config

import (
	"maps"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Masked replaces a secret in Redacted's copy, as url.URL.Redacted does.
const Masked = "xxxxx"

// Redacted returns a copy of c fit to print: the password of database_url
// (URL userinfo, a password= parameter or a key=value password), the
// passwords of the alert webhook, IdP metadata and check URLs, and every
// check header value (they often carry credentials) are replaced by Masked.
// Token hashes are not secret and stay. The copy shares the unmasked parts
// with c; like every *Config, treat it as immutable.
func (c *Config) Redacted() *Config {
	r := *c
	r.DatabaseURL = redactURL(c.DatabaseURL)
	if c.Alerts.Webhook != nil {
		w := *c.Alerts.Webhook
		w.URL = redactURL(w.URL)
		r.Alerts.Webhook = &w
	}
	r.IdPs = append([]IdP(nil), c.IdPs...)
	for i := range r.IdPs {
		r.IdPs[i].MetadataURL = redactURL(r.IdPs[i].MetadataURL)
	}
	r.Checks = append([]Check(nil), c.Checks...)
	for i := range r.Checks {
		ck := &r.Checks[i]
		ck.URL = redactURL(ck.URL)
		if ck.Headers != nil {
			ck.Headers = maps.Clone(ck.Headers)
			for k := range ck.Headers {
				ck.Headers[k] = Masked
			}
		}
	}
	return &r
}

// dsnPassword finds a password in a key=value connection string.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

func redactURL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		// not a URL: perhaps a key=value connection string
		return dsnPassword.ReplaceAllString(s, "${1}"+Masked)
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Masked)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", Masked)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// durationString matches time.Duration.String output with zero tails.
var durationTail = regexp.MustCompile(`^(-?(?:\d+h)?)0m0s$|^(-?(?:\d+h)?\d+m)0s$`)

// Marshal encodes c as YAML in the shape of the config file, durations
// written short (48h, not 48h0m0s). Parse reads it back to an equal Config.
// Print c.Redacted(), not c, where people can see it.
func Marshal(c *Config) ([]byte, error) {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return nil, err
	}
	tidyDurations(&n)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

func tidyDurations(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && durationTail.MatchString(n.Value) {
		n.Value = shorten(n.Value)
	}
	for _, c := range n.Content {
		tidyDurations(c)
	}
}

// FormatDuration writes d the way the config file does: 48h, 1h30m, 10s.
func FormatDuration(d time.Duration) string { return shorten(d.String()) }

func shorten(s string) string {
	m := durationTail.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	if v := m[1] + m[2]; v != "" && v != "-" {
		return v
	}
	return "0s"
}
