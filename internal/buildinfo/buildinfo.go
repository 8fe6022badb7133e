// Package buildinfo owns what a samlkeyd binary says about itself: the
// module version, the VCS revision and time it was built from, the Go
// version, the crypto backend and whether FIPS 140-3 mode is on. The CLI
// prints it (samlkeyd version, --version); the daemon exports it as the
// samlkeyd_build_info metric.
package buildinfo

import (
	"crypto/fips140"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/keys/openssl"
)

// Devel is the version of a binary built from a checkout without a
// version (go run, go test, go build outside a tagged module).
const Devel = "devel"

// Info is what the binary knows about its build.
type Info struct {
	Version       string    `json:"version"`         // module version (v1.2.3, a pseudo-version), or Devel
	Revision      string    `json:"revision"`        // VCS revision, "" when unknown
	Time          time.Time `json:"time,omitzero"`   // VCS commit time
	Modified      bool      `json:"modified"`        // built from a tree with uncommitted changes
	GoVersion     string    `json:"go_version"`      // go1.26.8
	CryptoBackend string    `json:"crypto_backend"`  // "go", or "openssl" in an openssl build
	FIPS140       bool      `json:"fips140_enabled"` // crypto/fips140.Enabled()
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	i := fromBuildInfo(bi, ok)
	i.CryptoBackend = openssl.Backend()
	i.FIPS140 = fips140.Enabled()
	return i
}

// fromBuildInfo extracts Info from bi (ok false: a binary without build
// information, such as one built without module support).
func fromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	i := Info{Version: Devel, GoVersion: "unknown"}
	if !ok || bi == nil {
		return i
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		i.Version = v
	}
	if bi.GoVersion != "" {
		i.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil {
				i.Time = t.UTC()
			}
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// Short is the one-line form: "v1.2.3 (abcdef123456, go1.26.8)".
func (i Info) Short() string {
	rev := "unknown revision"
	if i.Revision != "" {
		rev = shortRev(i.Revision)
		if i.Modified {
			rev += "+modified"
		}
	}
	return fmt.Sprintf("%s (%s, %s)", i.Version, rev, i.GoVersion)
}

// String is the multi-line form `samlkeyd version` prints.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "samlkeyd %s\n", i.Version)
	rev := "unknown (built without VCS information)"
	if i.Revision != "" {
		rev = i.Revision
		if i.Modified {
			rev += " (modified)"
		}
	}
	fmt.Fprintf(&b, "  revision  %s\n", rev)
	if !i.Time.IsZero() {
		fmt.Fprintf(&b, "  time      %s\n", i.Time.Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "  go        %s\n", i.GoVersion)
	fips := "off"
	if i.FIPS140 {
		fips = "on"
	}
	fmt.Fprintf(&b, "  crypto    %s, FIPS 140-3 mode %s\n", i.CryptoBackend, fips)
	return b.String()
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// Register registers samlkeyd_build_info{version,revision,goversion} = 1
// for the running binary with reg.
func Register(reg prometheus.Registerer) error {
	return reg.Register(Read().Collector())
}

// Collector returns a collector of samlkeyd_build_info with i's labels.
func (i Info) Collector() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "samlkeyd_build_info",
		Help: "Build of the running samlkeyd: module version, VCS revision and Go version. Always 1.",
		ConstLabels: prometheus.Labels{
			"version":   i.Version,
			"revision":  i.Revision,
			"goversion": i.GoVersion,
		},
	})
	g.Set(1)
	return g
}
