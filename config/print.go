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

// Redacted returns a copy of c fit to print: in database_url, the alert
// webhook, IdP metadata and check URLs, the password of the URL's userinfo
// and every parameter whose name contains password, passwd, passphrase,
// secret or token (any case: pgx reads sslpassword) — in a query string or
// a key=value connection string — and every check header value (they often
// carry credentials) are replaced by Masked. Token hashes are not secret
// and stay. The copy shares the unmasked parts with c; like every *Config,
// treat it as immutable.
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

// secretWords mark a parameter whose value is a secret.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token"}

func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// dsnParam finds the key=value pairs of a key=value connection string
// (libpq's form: values bare or single-quoted with backslash escapes).
var dsnParam = regexp.MustCompile(`([A-Za-z_][\w.-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']*)`)

// userinfoPassword finds user:password@ after a scheme, for strings that
// url.Parse refuses.
var userinfoPassword = regexp.MustCompile(`(://[^/?#@:]*:)[^/?#@]*@`)

func redactURL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		// not a URL: perhaps a key=value connection string
		s = userinfoPassword.ReplaceAllString(s, "${1}"+Masked+"@")
		return dsnParam.ReplaceAllStringFunc(s, func(m string) string {
			p := dsnParam.FindStringSubmatch(m)
			if !isSecretKey(p[1]) {
				return m
			}
			return p[1] + p[2] + Masked
		})
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Masked)
	}
	u.RawQuery = redactQuery(u.RawQuery)
	return u.String()
}

// redactQuery masks the secret parameters of a raw query, keeping the
// order and encoding of the others.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if isSecretKey(k) {
			ek, _, _ := strings.Cut(p, "=")
			parts[i] = ek + "=" + Masked
		}
	}
	return strings.Join(parts, "&")
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
