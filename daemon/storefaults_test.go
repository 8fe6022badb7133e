package daemon

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// outageTimeout is the store_timeout of the outage tests.
const outageTimeout = time.Second

// runningDaemon is a daemon started with Prepare and Run on a loopback
// listener, as serve starts it.
type runningDaemon struct {
	d      *Daemon
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startDaemon starts a daemon on the config file file whose store (PostgreSQL at
// dbURL) is opened inside Run.
func startDaemon(t *testing.T, file, dbURL string) *runningDaemon {
	t.Helper()
	load := func() (*config.Config, error) {
		return config.Load(config.LoadOptions{File: file, Env: func(string) (string, bool) { return "", false }})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Prepare(Options{Config: cfg, ConfigFile: file, LoadConfig: load, Logger: testLogger(t), PollInterval: 100 * time.Millisecond,
		OpenStore: func(ctx context.Context, onError func(string, error)) (Store, error) {
			st, err := store.Open(ctx, store.Options{DatabaseURL: dbURL, MasterKey: secret.FromString(strings.Repeat("ab", 32)),
				Timeout: cfg.StoreTimeout, OnError: onError})
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDaemon{d: d, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(ShutdownBound(outageTimeout) + 5*time.Second):
			t.Error("Run did not return")
		}
	})
	return r
}

// get fetches path over the network and returns the status and body.
func (r *runningDaemon) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop cancels Run and returns how long it took to return.
func (r *runningDaemon) stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Logf("Run returned %v", err)
		}
	case <-time.After(2 * ShutdownBound(outageTimeout)):
		t.Fatalf("Run did not return within twice the bound (%v)", ShutdownBound(outageTimeout))
	}
	r.done <- nil // for the cleanup
	return time.Since(start)
}

func waitUntil(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStoreOutage runs serve's daemon on a PostgreSQL cluster of its own
// and takes the store away twice: stopped (connections refused), then hung
// (SIGSTOP: nothing answers). Metadata keeps being served, readiness and
// samlkeyd_store_up say what happened, config edits and SIGHUP made during
// the outage are applied after it, a replica started during it becomes
// ready after it, mTLS ticks are counted as skipped, and Run returns within
// ShutdownBound while the store hangs.
func TestStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	pg := tooltest.NewPostgresCluster(t)
	ctx := context.Background()
	seed, err := store.Open(ctx, store.Options{DatabaseURL: pg.URL, MasterKey: secret.FromString(strings.Repeat("ab", 32))})
	if err != nil {
		t.Fatal(err)
	}
	partner := mtlsServer(t, certOf(t, seed, baseSigningID))
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: partner.Certificate().Raw})
	if _, err := seed.AddRecord(ctx, "test", store.NewRecord{Name: "Partner server", Type: store.TypeTrustStoreCert, Data: serverPEM}); err != nil {
		t.Fatal(err)
	}
	_ = seed.Close()
	u, _ := url.Parse(partner.URL)

	file := t.TempDir() + "/samlkeyd.yaml"
	write := func(entity string) {
		t.Helper()
		y := fmt.Sprintf(`store_timeout: %v
sp:
  entity_id: %s
  base_url: https://sp.example.com
profiles:
  - {name: mhttps, keystore: %s, default_port: 443, trust_store: ["Partner server"]}
checks:
  - {name: partner, url: "mhttps://%s/health", schedule: "@every 1s", timeout: 5s}
api:
  tokens: [{name: ops, sha256: %s, scopes: [admin]}]
`, outageTimeout, entity, baseSigningID, u.Host, HashToken(adminToken))
		if err := os.WriteFile(file+".tmp", []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	write("https://sp.example.com/one")
	r := startDaemon(t, file, pg.URL)
	waitUntil(t, "ready", 30*time.Second, func() bool { code, _ := r.get(t, "/readyz"); return code == http.StatusOK })
	d := r.d
	entity := func() string { return d.Snapshot().Config.SP.EntityID }
	storeUp := func() float64 { return testutil.ToFloat64(d.metrics.storeUp) }
	checkUp := `samlkeyd_mtls_check_up{check="partner"} 1`
	waitUntil(t, "the mTLS check to run", 15*time.Second, func() bool { _, m := r.get(t, "/metrics"); return strings.Contains(m, checkUp) })

	t.Run("stopped", func(t *testing.T) {
		pg.Shutdown()
		waitUntil(t, "samlkeyd_store_up 0", 5*time.Second, func() bool { return storeUp() == 0 })
		if code, body := r.get(t, "/saml/metadata"); code != http.StatusOK || !strings.Contains(body, "https://sp.example.com/one") {
			t.Fatalf("metadata during the outage: %d", code)
		}
		if code, body := r.get(t, "/readyz"); code != http.StatusOK || !strings.Contains(body, `{"kind":"store","name":"store","ok":false`) {
			t.Errorf("readyz during the outage: %d %q", code, body)
		}
		if _, m := r.get(t, "/metrics"); !strings.Contains(m, `samlkeyd_store_errors_total{op="change_counter"}`) {
			t.Error("no samlkeyd_store_errors_total{op=\"change_counter\"} during the outage")
		}
		write("https://sp.example.com/two")
		waitUntil(t, "the edit to wait for the store", 5*time.Second, func() bool { trig, ok := d.retry.pendingTrigger(); return ok && trig == "config file" })

		replica := startDaemon(t, file, pg.URL)
		time.Sleep(1500 * time.Millisecond) // at least one failed attempt
		if code, _ := replica.get(t, "/healthz"); code != http.StatusOK {
			t.Errorf("replica healthz during the outage: %d", code)
		}
		if code, body := replica.get(t, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `{"kind":"store","name":"store","ok":false`) {
			t.Errorf("replica readyz during the outage: %d %q", code, body)
		}
		if code, _ := replica.get(t, "/saml/metadata"); code != http.StatusServiceUnavailable {
			t.Errorf("replica metadata before its first snapshot: %d", code)
		}
		if entity() != "https://sp.example.com/one" {
			t.Fatalf("entity id %q changed while the store was down", entity())
		}

		back := time.Now()
		pg.Start()
		waitUntil(t, "the edit made during the outage", 10*time.Second, func() bool { return entity() == "https://sp.example.com/two" })
		t.Logf("edit applied %v after the store came back", time.Since(back).Round(time.Millisecond))
		waitUntil(t, "the replica to become ready", 70*time.Second, func() bool { code, _ := replica.get(t, "/readyz"); return code == http.StatusOK })
		t.Logf("replica ready %v after the store came back", time.Since(back).Round(time.Millisecond))
		if got := replica.d.Snapshot().Config.SP.EntityID; got != "https://sp.example.com/two" {
			t.Errorf("replica started with entity id %q, want the edited one", got)
		}
		if storeUp() != 1 {
			t.Error("samlkeyd_store_up not 1 after recovery")
		}
		t.Logf("replica shutdown took %v", replica.stop(t))
	})

	t.Run("hung", func(t *testing.T) {
		pg.Hang()
		start := time.Now()
		if code, _ := r.get(t, "/saml/metadata"); code != http.StatusOK {
			t.Fatalf("metadata while the store hangs: %d", code)
		}
		if took := time.Since(start); took > outageTimeout/2 {
			t.Errorf("metadata took %v while the store hangs", took)
		}
		waitUntil(t, "samlkeyd_store_up 0", 3*outageTimeout, func() bool { return storeUp() == 0 })
		start = time.Now()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "SIGHUP to be read", outageTimeout/2, func() bool { trig, ok := d.retry.pendingTrigger(); return ok && trig == "sighup" })
		t.Logf("SIGHUP read and queued for the store in %v", time.Since(start).Round(time.Millisecond))
		write("https://sp.example.com/three")
		waitUntil(t, "the edit to wait for the store", 5*time.Second, func() bool { trig, ok := d.retry.pendingTrigger(); return ok && trig == "config file" })
		waitUntil(t, "an mTLS tick skipped for the store", 10*time.Second, func() bool {
			_, m := r.get(t, "/metrics")
			return strings.Contains(m, `samlkeyd_mtls_check_skipped_total{check="partner",reason="store_unavailable"}`) && !strings.Contains(m, checkUp)
		})
		pg.Resume()
		waitUntil(t, "the edit made while the store hung", 10*time.Second, func() bool { return entity() == "https://sp.example.com/three" })
		waitUntil(t, "the mTLS check to run again", 15*time.Second, func() bool { _, m := r.get(t, "/metrics"); return strings.Contains(m, checkUp) })
	})

	t.Run("shutdown while hung", func(t *testing.T) {
		pg.Hang()
		time.Sleep(1500 * time.Millisecond) // polls, checks and their lock calls now wait on the store
		// An API call in flight that waits on the store (the rotation lock)
		// holds the HTTP drain until its store calls time out.
		answered := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, r.url+"/api/v1/rotations", strings.NewReader(`{"use":"signing"}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answered <- 0
				return
			}
			resp.Body.Close()
			answered <- resp.StatusCode
		}()
		time.Sleep(300 * time.Millisecond)
		took := r.stop(t)
		t.Logf("the in-flight rotation call was answered %d", <-answered)
		t.Logf("Run returned %v after cancel while PostgreSQL is SIGSTOPped (bound %v)", took.Round(time.Millisecond), ShutdownBound(outageTimeout))
		if took > ShutdownBound(outageTimeout) {
			t.Errorf("shutdown took %v, over the bound %v", took, ShutdownBound(outageTimeout))
		}
		pg.Resume()
	})
}
