package main

import (
	"bufio"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crewjam/saml"
	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// buildBinary builds samlkeyd once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "samlkeyd-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "samlkeyd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{err: err, out: string(out)}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func samlkeydBinary(t testing.TB) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// daemonProcess is a running `samlkeyd serve`.
type daemonProcess struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	stderr  *strings.Builder
	started time.Time
}

// startServe runs `samlkeyd serve` on a free loopback port in dir and
// returns once it printed its URLs.
func startServe(t testing.TB, dir string, args ...string) *daemonProcess {
	t.Helper()
	cmd := exec.Command(samlkeydBinary(t), append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SAMLKEYD_LOG_LEVEL=info")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &daemonProcess{cmd: cmd, stderr: &strings.Builder{}, started: time.Now()}
	cmd.Stderr = &syncWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	deadline := time.After(30 * time.Second)
	for p.base == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before listening:\n%s", p.stderr)
			}
			if rest, ok := strings.CutPrefix(l, "samlkeyd listening on "); ok {
				p.base = rest
			}
		case <-deadline:
			t.Fatalf("serve did not print its URL in 30s:\n%s", p.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (p *daemonProcess) waitReady(t testing.TB) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.started)
			}
		}
	}
	t.Fatalf("serve never became ready:\n%s", p.stderr)
	return 0
}

func (p *daemonProcess) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, p.stderr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

func TestServeOnEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	p.waitReady(t)

	resp, err := http.Get(p.base + "/saml/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(body, &ed); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d %v\n%s", resp.StatusCode, err, body)
	}
	if len(ed.SPSSODescriptors) != 1 || len(ed.SPSSODescriptors[0].KeyDescriptors) != 2 {
		t.Fatalf("metadata on defaults: want one SPSSODescriptor with a signing and an encryption key:\n%s", body)
	}
	for _, f := range []string{"samlkeyd.db", "master.key"} {
		fi, err := os.Stat(filepath.Join(dir, "samlkeyd-data", f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "samlkeyd stopped") {
		t.Errorf("no graceful-stop log line:\n%s", p.stderr)
	}
	// serve made the store, and says so once, naming where.
	if n := strings.Count(p.stderr.String(), "created a new store"); n != 1 ||
		!strings.Contains(p.stderr.String(), filepath.Join(dir, "samlkeyd-data")) {
		t.Errorf("serve on no store: %d \"created a new store\" lines naming %s, want 1:\n%s", n, dir, p.stderr)
	}
}

// TestColdStart measures `serve` on an existing data directory to the first
// 200 from /readyz (the target: under 300 ms).
func TestColdStart(t *testing.T) {
	dir := t.TempDir()
	p := startServe(t, dir)
	p.waitReady(t)
	p.stop(t)

	var best time.Duration
	for range 3 {
		p := startServe(t, dir)
		d := p.waitReady(t)
		if best == 0 || d < best {
			best = d
		}
		p.stop(t)
	}
	t.Logf("cold start on an existing data directory to the first 200 from /readyz: %v (best of 3)", best)
}

// TestServeWaitsForStore starts serve while its PostgreSQL is down: it
// listens at once (healthz 200, readyz 503), logs each attempt, becomes
// ready when PostgreSQL starts, and stops on SIGTERM.
func TestServeWaitsForStore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	pg := tooltest.NewPostgresCluster(t)
	t.Setenv("SAMLKEYD_MASTER_KEY", strings.Repeat("ab", 32))
	mustCLI(t, "--database-url", pg.URL, "--log-level", "error", "init") // serve needs the schema on PostgreSQL
	pg.Shutdown()
	p := startServe(t, t.TempDir(), "--database-url", pg.URL)
	status := func(path string) int {
		resp, err := http.Get(p.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	logs := func() string { // the process writes stderr meanwhile
		sw := p.cmd.Stderr.(*syncWriter)
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return p.stderr.String()
	}
	time.Sleep(2 * time.Second)
	if h, r := status("/healthz"), status("/readyz"); h != http.StatusOK || r != http.StatusServiceUnavailable {
		t.Fatalf("while the store is down: healthz %d readyz %d, want 200 503\n%s", h, r, logs())
	}
	if n := strings.Count(logs(), "not ready: the store is unavailable"); n < 2 {
		t.Errorf("%d attempts logged in 2 s, want at least 2:\n%s", n, logs())
	}
	back := time.Now()
	pg.Start()
	p.waitReady(t)
	t.Logf("ready %v after PostgreSQL started", time.Since(back).Round(time.Millisecond))
	// SIGTERM while PostgreSQL hangs returns within the bound (default
	// store_timeout 5 s: 15 s).
	pg.Hang()
	time.Sleep(3 * time.Second) // the poll and the mTLS lock now wait on the store
	start := time.Now()
	p.stop(t)
	took := time.Since(start)
	t.Logf("serve exited %v after SIGTERM while PostgreSQL is SIGSTOPped (bound %v)", took.Round(time.Millisecond), daemon.ShutdownBound(0))
	if took > daemon.ShutdownBound(0) {
		t.Errorf("SIGTERM took %v, over the bound %v", took, daemon.ShutdownBound(0))
	}
}

// TestServeMetricsListener: with metrics_listen, /metrics is served on that
// address and the main listener answers 404 for it.
func TestServeMetricsListener(t *testing.T) {
	dir := t.TempDir()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := free.Addr().String()
	free.Close()
	file := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("metrics_listen: "+metricsAddr+"\nmax_connections: 64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, dir, "--config", file)
	p.waitReady(t)
	for _, tc := range []struct {
		url  string
		code int
	}{
		{p.base + "/metrics", http.StatusNotFound},
		{"http://" + metricsAddr + "/metrics", http.StatusOK},
		{"http://" + metricsAddr + "/saml/metadata", http.StatusNotFound},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("GET %s: %d, want %d", tc.url, resp.StatusCode, tc.code)
		}
	}
	p.stop(t)
	if !strings.Contains(p.stderr.String(), "metrics=http://"+metricsAddr+"/metrics") {
		t.Errorf("the start log line does not name the metrics listener:\n%s", p.stderr)
	}
}
