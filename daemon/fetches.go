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
// from (by source address or User-Agent), or "".
func fetchingIdP(idps []config.IdP, r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, _ := netip.ParseAddr(host)
	addr = addr.Unmap().WithZone("") // config networks carry no zone
	ua := r.UserAgent()
	for _, p := range idps {
		if p.MetadataUserAgent != "" && strings.Contains(ua, p.MetadataUserAgent) {
			return p.Name
		}
		for _, pre := range p.ParsedFetchers {
			if pre.Contains(addr) {
				return p.Name
			}
		}
	}
	return ""
}

// noteFetch records a successful metadata fetch by a known IdP with the
// fingerprints of the certificates snap published.
func (d *Daemon) noteFetch(r *http.Request, snap *Snapshot, code int) {
	if snap == nil || (code != http.StatusOK && code != http.StatusNotModified) || d.storeHealth.down() {
		return // with the store down, the fetch is recorded at the next one rather than hold this answer
	}
	idp := fetchingIdP(snap.Config.IdPs, r)
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
