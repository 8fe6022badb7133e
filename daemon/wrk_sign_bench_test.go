package daemon

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
)

var (
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses:\s+([0-9]+)`)
	wrkTotal  = regexp.MustCompile(`([0-9]+) requests in `)
)

// processCPU is the CPU time (user and system) this process has used: the
// server's, wrk being a child process of its own.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSigningAPIWrk loads the signing API (POST
// /api/v1/authn-requests with a sign-scope token, a signed redirect and a
// signed POST AuthnRequest) over loopback with wrk, and reports req/s.
// The key is served by the binary's backend: run it in the default build
// and with -tags openssl, back to back, and compare (issue 18's target:
// openssl ≥ 2.5× go). server-cpu-us/req is the daemon's CPU time per
// request over the run, the figure a shared machine disturbs least. The
// daemon logs nothing per request here (its debug line per signature would
// be the test log's cost, not the API's).
//
//	go test -run '^$' -bench SigningAPIWrk -benchtime=1x ./daemon/
//	go test -tags openssl -run '^$' -bench SigningAPIWrk -benchtime=1x ./daemon/
func BenchmarkSigningAPIWrk(b *testing.B) {
	wrk := tooltest.Path(b, "wrk")
	st := openStore(b)
	d, err := New(context.Background(), Options{Config: testConfig(), Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("backend %s", openssl.Backend())
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	for _, binding := range []string{"redirect", "post"} {
		b.Run(binding, func(b *testing.B) {
			script := filepath.Join(b.TempDir(), "post.lua")
			lua := `wrk.method = "POST"
wrk.body = '{"idp":"corp","relay_state":"/app","binding":"` + binding + `"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ` + testToken + `"
`
			if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
				b.Fatal(err)
			}
			cpu0 := processCPU(b)
			out, err := exec.Command(wrk, "-t", "1", "-c", "8", "-d", "5s", "-s", script, srv.URL+"/api/v1/authn-requests").CombinedOutput()
			if err != nil {
				b.Fatalf("wrk: %v\n%s", err, out)
			}
			cpu := processCPU(b) - cpu0
			if m := wrkNon2xx.FindSubmatch(out); m != nil {
				b.Fatalf("wrk: %s answers were not 200:\n%s", m[1], out)
			}
			m := wrkRate.FindSubmatch(out)
			if m == nil {
				b.Fatalf("wrk printed no rate:\n%s", out)
			}
			rate, _ := strconv.ParseFloat(string(m[1]), 64)
			b.ReportMetric(rate, "req/s")
			if n := wrkTotal.FindSubmatch(out); n != nil {
				total, _ := strconv.ParseFloat(string(n[1]), 64)
				b.ReportMetric(float64(cpu.Microseconds())/total, "server-cpu-us/req")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
