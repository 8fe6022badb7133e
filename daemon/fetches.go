package daemon

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

// fetchRecordEvery bounds how often one IdP's unchanged metadata fetches
// are written to the store.
const fetchRecordEvery = 5 * time.Minute

// fetchLog remembers what was last recorded per IdP, so the metadata hot
// path writes to the store only when something changed or a while passed.
type fetchLog struct {
	mu   sync.Mutex
	last map[string]recordedFetch
}

type recordedFetch struct {
	at  time.Time
	fps string
}

// fetchingIdP returns the name of the IdP record a metadata request comes
// from, or "". Where an IdP has metadata_fetchers, the client address
// (clientAddr) must be in one of them, and the User-Agent must match too
// when metadata_user_agent is set. A User-Agent alone, which anyone can
// send, counts only where the operator said metadata_user_agent_trusted.
func fetchingIdP(idps []config.IdP, proxies []netip.Prefix, r *http.Request) string {
	addr := clientAddr(r, proxies)
	ua := r.UserAgent()
	for _, p := range idps {
		uaMatch := p.MetadataUserAgent != "" && strings.Contains(ua, p.MetadataUserAgent)
		if len(p.MetadataFetchers) == 0 {
			if uaMatch && p.MetadataUserAgentTrusted {
				return p.Name
			}
			continue
		}
		if p.MetadataUserAgent != "" && !uaMatch {
			continue
		}
		if addr.IsValid() && slices.ContainsFunc(p.ParsedFetchers, func(pre netip.Prefix) bool { return pre.Contains(addr) }) {
			return p.Name
		}
	}
	return ""
}

// clientAddr returns the address of the client behind r: the TCP peer's,
// or, when the peer is one of the trusted proxies, the rightmost
// X-Forwarded-For entry that is not a trusted proxy (each proxy appends
// the address it received from; entries left of the last untrusted one
// are the client's to write). When every entry is a trusted proxy it is
// the leftmost. An entry that is not an address gives the zero Addr,
// which matches no network.
func clientAddr(r *http.Request, proxies []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr := parseForwarded(host)
	trusted := func(a netip.Addr) bool {
		return slices.ContainsFunc(proxies, func(pre netip.Prefix) bool { return pre.Contains(a) })
	}
	if !addr.IsValid() || !trusted(addr) {
		return addr
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		addr = parseForwarded(hops[i])
		if !addr.IsValid() || !trusted(addr) {
			return addr
		}
	}
	return addr
}

// parseForwarded parses one address as a TCP peer or an X-Forwarded-For
// entry writes it: bare, or with a port (192.0.2.1:80, [2001:db8::1]:80);
// IPv4-mapped IPv6 is unmapped and any zone dropped, as the configured
// networks carry none. Anything else is the zero Addr.
func parseForwarded(s string) netip.Addr {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}

// noteFetch records a successful metadata fetch by a known IdP with the
// fingerprints of the certificates snap published.
func (d *Daemon) noteFetch(r *http.Request, snap *Snapshot, code int) {
	if snap == nil || (code != http.StatusOK && code != http.StatusNotModified) || d.storeHealth.down() {
		return // with the store down, the fetch is recorded at the next one rather than hold this answer
	}
	idp := fetchingIdP(snap.Config.IdPs, snap.Config.ParsedTrustedProxies, r)
	if idp == "" {
		return
	}
	var fps []string
	for _, c := range snap.Metadata.Certificates() {
		fps = append(fps, c.Fingerprint.Hex()) // records keep the hex form
	}
	slices.Sort(fps)
	joined := strings.Join(fps, ",")
	now := d.now()
	d.fetches.mu.Lock()
	last := d.fetches.last[idp]
	due := last.fps != joined || now.Sub(last.at) >= fetchRecordEvery
	if due {
		d.fetches.last[idp] = recordedFetch{at: now, fps: joined}
	}
	d.fetches.mu.Unlock()
	if !due {
		return
	}
	if err := d.opts.Store.RecordMetadataFetch(r.Context(), idp, now, fps); err != nil {
		d.log.Warn("metadata fetch not recorded", "idp", idp, "err", err)
	}
}

// warnFetchRecognition logs, for a config being put in service, the IdPs
// whose metadata fetches are recognised by a User-Agent anyone can send,
// and those whose metadata_user_agent is ignored for want of
// metadata_fetchers or metadata_user_agent_trusted.
func (d *Daemon) warnFetchRecognition(cfg *config.Config) {
	if idps := cfg.ForgeableUserAgents(); len(idps) > 0 {
		d.log.Warn("metadata fetches are recognised by User-Agent alone (metadata_user_agent_trusted): anyone who sends it can release a key rollover early; prefer metadata_fetchers",
			"idps", idps)
	}
	if idps := cfg.UncountedUserAgents(); len(idps) > 0 {
		d.log.Warn("metadata_user_agent without metadata_fetchers is not counted: set metadata_fetchers (and trusted_proxies behind a proxy), or metadata_user_agent_trusted: true to accept a forgeable User-Agent",
			"idps", idps)
	}
}
