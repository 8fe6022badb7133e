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
	benchConcurrency = 8
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
// loopback mTLS servers with MaxConcurrent 8 (the default), and compares
// with bare tls.Dial loops (sequential, and 8 workers) over the same
// servers. The three run interleaved in every iteration so that load from
// other processes on a shared machine hits them alike.
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
	rec := &MemoryRecorder{Keep: 1}
	s := NewScheduler(SchedulerOptions{MaxConcurrent: benchConcurrency, Recorder: rec})
	if err := s.Update(checks); err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.serverCA.cert)
	dial := func(addr string) error {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &prof.client, nil }})
		if err != nil {
			return err
		}
		return c.Close()
	}
	variants := []struct {
		name string
		run  func() error
	}{
		{"scheduler", func() error {
			var wg sync.WaitGroup
			for _, e := range s.cron.Entries() {
				wg.Go(e.WrappedJob.Run)
			}
			wg.Wait()
			for _, c := range checks {
				if r, _ := rec.LastCheck(b.Context(), c.Name()); r == nil || !r.OK {
					return fmt.Errorf("check %s failed: %+v", c.Name(), r)
				}
			}
			return nil
		}},
		{"dial-loop", func() error {
			for i := range benchChecks {
				if err := dial(addrs[i%benchServers]); err != nil {
					return err
				}
			}
			return nil
		}},
		{"dial-8-workers", func() error {
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
				return err
			default:
				return nil
			}
		}},
	}
	wall := make([]time.Duration, len(variants))
	peak := make([]float64, len(variants))
	left := make([]int, len(variants))
	b.ResetTimer()
	for range b.N {
		for i, v := range variants {
			runtime.GC()
			base := runtime.NumGoroutine()
			resetPeakRSS()
			t := time.Now()
			if err := v.run(); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			wall[i] += time.Since(t)
			peak[i] = max(peak[i], peakRSSKiB()/1024)
			left[i] = max(left[i], settledGoroutines(base))
		}
	}
	b.StopTimer()
	for i, v := range variants {
		sec := wall[i].Seconds() / float64(b.N)
		b.ReportMetric(sec, v.name+"-s/tick")
		b.ReportMetric(benchChecks/sec, v.name+"-handshakes/s")
		b.ReportMetric(peak[i], v.name+"-peak-RSS-MiB")
		b.ReportMetric(float64(left[i]), v.name+"-goroutines-left")
		if i > 0 {
			b.ReportMetric(wall[0].Seconds()/wall[i].Seconds(), "scheduler/"+v.name)
		}
	}
	b.ReportMetric(0, "ns/op")
}
