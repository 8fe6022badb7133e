package daemon

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
)

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// BenchmarkMetadataLoopbackWrk serves /saml/metadata over loopback three
// ways and loads each with wrk in the same run: the daemon's full handler
// (precomputed bytes), a per-request handler building the same metadata the
// way crewjam/saml's samlsp.ServeMetadata does, and a bare handler writing
// the same byte slice. Targets: daemon ≥ 2× per-request, ≥ 0.9× bare.
// Each sub-benchmark runs wrk once (-d 3s); compare the req/s metrics.
func BenchmarkMetadataLoopbackWrk(b *testing.B) {
	wrk := tooltest.Path(b, "wrk")
	st := openStore(b)
	cfg := testConfig()
	d := newDaemon(b, cfg, st)
	snap := d.Snapshot()
	body := snap.Metadata.Metadata()
	cred := snap.Keys.Current(keys.UseSigning)
	mustURL := func(s string) url.URL {
		u, err := url.Parse(s)
		if err != nil {
			b.Fatal(err)
		}
		return *u
	}
	crewjamSP := &saml.ServiceProvider{
		EntityID:              cfg.SP.EntityID,
		Key:                   cred.Signer,
		Certificate:           cred.Leaf(),
		MetadataURL:           mustURL(cfg.SP.EntityID),
		AcsURL:                mustURL(cfg.SP.ACS[0].Location),
		SloURL:                mustURL(cfg.SP.SLO[0].Location),
		AuthnNameIDFormat:     saml.EmailAddressNameIDFormat,
		MetadataValidDuration: 48 * time.Hour,
	}
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"daemon", d.Handler()},
		{"per-request-crewjam", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			buf, err := xml.MarshalIndent(crewjamSP.Metadata(), "", "  ")
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/samlmetadata+xml")
			_, _ = w.Write(buf)
		})},
		{"bare", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/samlmetadata+xml")
			_, _ = w.Write(body)
		})},
	}
	for _, hc := range handlers {
		b.Run(hc.name, func(b *testing.B) {
			srv := httptest.NewServer(hc.h)
			defer srv.Close()
			out, err := exec.Command(wrk, "-t", "1", "-c", "16", "-d", "3s", srv.URL+"/saml/metadata").CombinedOutput()
			if err != nil {
				b.Fatalf("wrk: %v\n%s", err, out)
			}
			m := wrkRate.FindSubmatch(out)
			if m == nil {
				b.Fatalf("wrk printed no rate:\n%s", out)
			}
			rate, _ := strconv.ParseFloat(string(m[1]), 64)
			b.ReportMetric(rate, "req/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
