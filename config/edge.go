package config

import (
	"fmt"
	"net"
	"time"
)

// The daemon's network edge: how many connections it holds at once, where
// /metrics is served, which proxies' X-Forwarded-For it believes, how it
// recognises an IdP fetching the SP metadata, and when refused
// decryptions are worth an alert.

// DefaultMaxConnections is max_connections when a Config built in code
// leaves it at 0 (defaults.yaml holds the same value).
const DefaultMaxConnections = 1024

// DefaultDecryptFailureBurst is alerts.decrypt_failure_burst when a Config
// built in code leaves it at 0 (defaults.yaml holds the same value).
const DefaultDecryptFailureBurst = 20

// DecryptFailureWindow is the window alerts.decrypt_failure_burst counts in.
const DecryptFailureWindow = 5 * time.Minute

// maxMaxConnections is far above what one process should hold open; past
// it the cap protects nothing.
const maxMaxConnections = 1_000_000

// edge checks the edge keys and parses trusted_proxies.
func (p *problems) edge(c *Config) {
	if c.MaxConnections < 1 || c.MaxConnections > maxMaxConnections {
		p.add("max_connections", "%d is not from 1 to %d (the default, %d, suits one SP)", c.MaxConnections, maxMaxConnections, DefaultMaxConnections)
	}
	if c.MetricsListen != "" {
		p.listen("metrics_listen", c.MetricsListen)
		if sameListener(c.MetricsListen, c.Listen) {
			p.add("metrics_listen", "%q is listen's address: give /metrics its own port, like 127.0.0.1:9108, or leave metrics_listen unset", c.MetricsListen)
		}
	}
	c.ParsedTrustedProxies = p.fetchers("trusted_proxies", c.TrustedProxies)
	for i, idp := range c.IdPs {
		if !idp.MetadataUserAgentTrusted {
			continue
		}
		f := fmt.Sprintf("idps[%d].metadata_user_agent_trusted", i)
		switch {
		case idp.MetadataUserAgent == "":
			p.add(f, "needs metadata_user_agent: there is no User-Agent to trust")
		case len(idp.MetadataFetchers) > 0:
			p.add(f, "has no effect with metadata_fetchers: the source address decides; remove one of them")
		}
	}
	if c.Alerts.DecryptFailureBurst < 1 {
		p.add("alerts.decrypt_failure_burst", "must be at least 1 (default %d)", DefaultDecryptFailureBurst)
	}
}

// sameListener reports whether two host:port addresses name the same
// listener; port 0 picks a free port, so it never clashes.
func sameListener(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp || ap == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ah == bh || wild(ah) || wild(bh)
}

// ForgeableUserAgents returns the names of the IdPs whose metadata fetches
// are recognised by User-Agent alone (metadata_user_agent_trusted), which
// anyone can send: the daemon warns about them at start and on reload.
func (c *Config) ForgeableUserAgents() []string {
	var out []string
	for _, idp := range c.IdPs {
		if idp.MetadataUserAgentTrusted && idp.MetadataUserAgent != "" && len(idp.MetadataFetchers) == 0 {
			out = append(out, idp.Name)
		}
	}
	return out
}

// UncountedUserAgents returns the names of the IdPs with a
// metadata_user_agent but neither metadata_fetchers nor
// metadata_user_agent_trusted: their fetches are not counted (before
// this release they were, by User-Agent alone).
func (c *Config) UncountedUserAgents() []string {
	var out []string
	for _, idp := range c.IdPs {
		if idp.MetadataUserAgent != "" && !idp.MetadataUserAgentTrusted && len(idp.MetadataFetchers) == 0 {
			out = append(out, idp.Name)
		}
	}
	return out
}
