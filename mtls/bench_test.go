package mtls

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	benchChecks      = 1000
	benchServers     = 4
	benchConcurrency = 32
)

// resetPeakRSS makes VmHWM start again from the current RSS (Linux 4.0+);
// it reports false when the kernel refuses.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSSKiB reads VmHWM, the process's peak resident set, in KiB.
func peakRSSKiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return n
		}
	}
	return 0
}

// settledGoroutines waits (up to 5s) for the servers' per-connection
// goroutines to exit and returns how many goroutines remain above base.
func settledGoroutines(base int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine() - base
		if n <= 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkTick fires 1,000 checks due on the same schedule tick, the way
// cron does (one goroutine per due entry, through the wrappers), against
// loopback mTLS servers with MaxConcurrent 32, and compares with bare
// tls.Dial loops over the same servers in the same run.
//
//	go test -run='^$' -bench=Tick -benchtime=3x ./mtls
func BenchmarkTick(b *testing.B) {
	p := newPKI(b)
	addrs := make([]string, benchServers)
	for i := range addrs {
		addrs[i] = startGoServer(b, p, goServerOpts{})
	}
	prof := p.profile(b, p.good)
	checks := make([]*Check, benchChecks)
	for i := range checks {
		checks[i] = scheduledCheck(b, prof, fmt.Sprintf("c%04d", i), "mhttps://"+addrs[i%benchServers]+"/health", "0 * * * * *")
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.serverCA.cert)
	dialCfg := func() *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &prof.client, nil }}
	}
	report := func(b *testing.B, handshakes int, start time.Time, base int) {
		wall := time.Since(start).Seconds() / float64(b.N)
		b.ReportMetric(wall, "s/tick")
		b.ReportMetric(float64(handshakes)/wall, "handshakes/s")
		b.ReportMetric(peakRSSKiB()/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(settledGoroutines(base)), "goroutines-left")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("scheduler", func(b *testing.B) {
		rec := &MemoryRecorder{Keep: 1}
		s := NewScheduler(SchedulerOptions{MaxConcurrent: benchConcurrency, Recorder: rec})
		if err := s.Update(checks); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		base := runtime.NumGoroutine()
		resetPeakRSS()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			var wg sync.WaitGroup
			for _, e := range s.cron.Entries() {
				wg.Go(e.WrappedJob.Run)
			}
			wg.Wait()
		}
		b.StopTimer()
		failed := 0
		for _, c := range checks {
			if r, _ := rec.LastCheck(b.Context(), c.Name()); r == nil || !r.OK {
				failed++
			}
		}
		if failed > 0 {
			b.Fatalf("%d of %d checks failed", failed, benchChecks)
		}
		report(b, benchChecks, start, base)
	})

	dial := func(addr string) error {
		c, err := tls.Dial("tcp", addr, dialCfg())
		if err != nil {
			return err
		}
		return c.Close()
	}
	b.Run("tls.Dial loop", func(b *testing.B) {
		runtime.GC()
		base := runtime.NumGoroutine()
		resetPeakRSS()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			for i := range benchChecks {
				if err := dial(addrs[i%benchServers]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		report(b, benchChecks, start, base)
	})
	b.Run("tls.Dial 32 workers", func(b *testing.B) {
		runtime.GC()
		base := runtime.NumGoroutine()
		resetPeakRSS()
		b.ResetTimer()
		start := time.Now()
		for range b.N {
			work := make(chan string)
			errs := make(chan error, benchConcurrency)
			var wg sync.WaitGroup
			for range benchConcurrency {
				wg.Go(func() {
					for addr := range work {
						if err := dial(addr); err != nil {
							select {
							case errs <- err:
							default:
							}
						}
					}
				})
			}
			for i := range benchChecks {
				work <- addrs[i%benchServers]
			}
			close(work)
			wg.Wait()
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
		}
		b.StopTimer()
		report(b, benchChecks, start, base)
	})
}
