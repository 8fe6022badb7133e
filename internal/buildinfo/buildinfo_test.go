package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-30T12:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name      string
		bi        *debug.BuildInfo
		ok        bool
		want      Info
		wantShort string
	}{
		{"no build info", nil, false, Info{Version: Devel, GoVersion: "unknown"}, "devel (unknown revision, unknown)"},
		{"go run from a checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, true,
			Info{Version: Devel, GoVersion: "go1.26.8", Revision: "0123456789abcdef0123456789abcdef01234567",
				Time: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Modified: true},
			"devel (0123456789ab+modified, go1.26.8)"},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, true,
			Info{Version: "v1.4.0", GoVersion: "go1.26.8"}, "v1.4.0 (unknown revision, go1.26.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.bi, tt.ok)
			if got != tt.want {
				t.Errorf("fromBuildInfo = %+v, want %+v", got, tt.want)
			}
			if s := got.Short(); s != tt.wantShort {
				t.Errorf("Short() = %q, want %q", s, tt.wantShort)
			}
		})
	}
}

func TestRead(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() || i.CryptoBackend == "" || i.Version == "" {
		t.Errorf("Read() = %+v", i)
	}
	s := i.String()
	for _, want := range []string{"samlkeyd " + i.Version + "\n", "  go        " + runtime.Version(), "  crypto    " + i.CryptoBackend + ", FIPS 140-3 mode "} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
}

func TestRegister(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "samlkeyd_build_info" || len(mfs[0].Metric) != 1 {
		t.Fatalf("gathered %v, %v", mfs, err)
	}
	m := mfs[0].Metric[0]
	labels := map[string]string{}
	for _, l := range m.Label {
		labels[l.GetName()] = l.GetValue()
	}
	i := Read()
	want := map[string]string{"version": i.Version, "revision": i.Revision, "goversion": i.GoVersion}
	if len(labels) != len(want) || m.GetGauge().GetValue() != 1 {
		t.Errorf("samlkeyd_build_info %v = %v, want labels %v and 1", labels, m.GetGauge().GetValue(), want)
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	if err := Register(reg); err == nil {
		t.Error("registering twice succeeded")
	}
}
