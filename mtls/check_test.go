package mtls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

func cfgProfile(name string) config.Profile {
	return config.Profile{Name: name, Keystore: "Partner mTLS", DefaultPort: 443}
}

type goServerOpts struct {
	cert       *tls.Certificate // nil = the good server certificate
	auth       tls.ClientAuthType
	maxVersion uint16
	handler    http.Handler
}

// startGoServer starts an httptest TLS server on 127.0.0.1 that (by
// default) requires a client certificate from the test client CA.
func startGoServer(t testing.TB, p *testPKI, o goServerOpts) string {
	t.Helper()
	h := o.handler
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.PeerCertificates) > 0 {
				fmt.Fprintf(w, "hello %s\n", r.TLS.PeerCertificates[0].Subject.CommonName)
				return
			}
			fmt.Fprintln(w, "hello anonymous")
		})
	}
	srv := httptest.NewUnstartedServer(h)
	cert := p.server
	if o.cert != nil {
		cert = *o.cert
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCA.cert)
	auth := o.auth
	if auth == 0 {
		auth = tls.RequireAndVerifyClientCert
	}
	if auth == -1 {
		auth = tls.NoClientCert
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: auth, ClientCAs: pool, MaxVersion: o.maxVersion}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func newTestCheck(t testing.TB, prof *Profile, url string, mut func(*config.Check)) *Check {
	t.Helper()
	cfg := parsed(t, config.Check{Name: "partner", URL: url, Schedule: "@every 5m", Timeout: 5 * time.Second})
	if mut != nil {
		mut(&cfg)
	}
	c, err := NewCheck(cfg, map[string]*Profile{prof.Name(): prof})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunSucceeds(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name    string
		max     uint16
		version string
	}{
		{"TLS 1.3", 0, "TLS 1.3"},
		{"TLS 1.2", tls.VersionTLS12, "TLS 1.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startGoServer(t, p, goServerOpts{maxVersion: tc.max})
			c := newTestCheck(t, p.profile(t, p.good), "mhttps://"+addr+"/health", nil)
			r := c.Run(context.Background())
			if !r.OK {
				t.Fatalf("run failed: stage %q err %q diagnosis %q", r.Stage, r.Err, r.Diagnosis)
			}
			if r.TLSVersion != tc.version || r.CipherSuite == "" || r.Status != 200 {
				t.Errorf("version %q cipher %q status %d", r.TLSVersion, r.CipherSuite, r.Status)
			}
			if !r.ClientCertRequested || !r.OurIssuerAccepted {
				t.Errorf("requested %v, issuer accepted %v; want both", r.ClientCertRequested, r.OurIssuerAccepted)
			}
			if want := p.clientCA.cert.Subject.String(); len(r.AcceptableCAs) != 1 || r.AcceptableCAs[0] != want {
				t.Errorf("acceptable CAs %q, want [%q]", r.AcceptableCAs, want)
			}
			if len(r.ServerChain) != 2 || !strings.Contains(r.ServerChain[0].Subject, "test server") ||
				!r.ServerChain[0].NotAfter.Equal(p.server.Leaf.NotAfter.UTC()) {
				t.Errorf("server chain %+v", r.ServerChain)
			}
			for _, s := range []string{StageConnect, StageTLS, StageHTTP, StageTotal} {
				if r.Stages[s] <= 0 {
					t.Errorf("stage %s latency %v", s, r.Stages[s])
				}
			}
			if _, ok := r.Stages[StageDNS]; ok {
				t.Errorf("an IP literal needs no dns stage: %v", r.Stages)
			}
			if r.Stage != "" || r.Diagnosis != "" || r.Err != "" {
				t.Errorf("success carries failure fields: %+v", r)
			}
		})
	}
}

// TestDiagnosis produces each diagnosis from the situation it names, against
// a Go TLS server that requires client certificates.
func TestDiagnosis(t *testing.T) {
	p := newPKI(t)
	teapot := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	for _, tc := range []struct {
		name      string
		server    goServerOpts
		client    *keys.Entry
		trust     []*x509.Certificate
		cfg       func(*config.Profile)
		check     func(*config.Check)
		wantOK    bool
		wantStage string
		want      []string // substrings of the diagnosis
		surfaced  bool     // the rejection came on the first read (TLS 1.3)
	}{
		{name: "wrong client CA TLS 1.3", client: p.wrongCA, wantStage: StageTLS, surfaced: true,
			want: []string{"did not trust our client certificate", "unknown certificate authority", "CN=Test Client CA", "not among them", "Unrelated CA"}},
		{name: "wrong client CA TLS 1.2", server: goServerOpts{maxVersion: tls.VersionTLS12}, client: p.wrongCA, wantStage: StageTLS,
			want: []string{"did not trust our client certificate", "CN=Test Client CA", "not among them"}},
		{name: "expired client certificate", client: p.expired, wantStage: StageTLS, surfaced: true,
			want: []string{"our client certificate", "expired at", "server says our client certificate has expired"}},
		{name: "missing server root", client: p.good, trust: []*x509.Certificate{p.otherCA.cert}, wantStage: StageTLS,
			want: []string{"our trust store lacks the server's root", "the root authority is needed", "Test Server Root"}},
		{name: "name mismatch", client: p.good, cfg: func(c *config.Profile) { c.ServerName = "partner.example" }, wantStage: StageTLS,
			want: []string{"hostname mismatch", "localhost, 127.0.0.1", `"partner.example"`}},
		{name: "expired server certificate", server: goServerOpts{cert: &p.serverExpired}, client: p.good, wantStage: StageTLS,
			want: []string{"the server's certificate", "expired at"}},
		{name: "server never asks for a certificate", server: goServerOpts{auth: -1}, client: p.good, wantStage: StageTLS,
			want: []string{"never asked for a client certificate"}},
		{name: "unexpected status", server: goServerOpts{handler: teapot}, client: p.good, wantStage: StageHTTP,
			want: []string{"answered 503, expected 2xx"}},
		{name: "expected status", server: goServerOpts{handler: teapot}, client: p.good, wantOK: true,
			check: func(c *config.Check) { c.ExpectStatus = []int{503} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startGoServer(t, p, tc.server)
			pc := cfgProfile("mhttps")
			if tc.cfg != nil {
				tc.cfg(&pc)
			}
			trust := tc.trust
			if trust == nil {
				trust = []*x509.Certificate{p.serverCA.cert}
			}
			prof, err := NewProfile(pc, tc.client, trust)
			if err != nil {
				t.Fatal(err)
			}
			r := newTestCheck(t, prof, "mhttps://"+addr+"/", tc.check).Run(context.Background())
			if r.OK != tc.wantOK || r.Stage != tc.wantStage {
				t.Fatalf("ok %v stage %q, want %v %q; err %q diagnosis %q", r.OK, r.Stage, tc.wantOK, tc.wantStage, r.Err, r.Diagnosis)
			}
			t.Logf("diagnosis: %s", r.Diagnosis)
			for _, w := range tc.want {
				if !strings.Contains(r.Diagnosis, w) {
					t.Errorf("diagnosis %q lacks %q", r.Diagnosis, w)
				}
			}
			if _, ok := r.Stages[StageHTTP]; ok != (tc.surfaced || tc.wantStage == StageHTTP || tc.wantOK || strings.Contains(tc.name, "never asks")) {
				t.Errorf("http stage ran = %v (stages %v)", ok, r.Stages)
			}
		})
	}
}

func TestDiagnosisClosedPort(t *testing.T) {
	p := newPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := newTestCheck(t, p.profile(t, p.good), "mhttps://"+addr+"/", nil).Run(context.Background())
	if r.OK || r.Stage != StageConnect || !strings.Contains(r.Diagnosis, "connection refused") || !strings.Contains(r.Diagnosis, "nothing listens") {
		t.Fatalf("stage %q diagnosis %q err %q", r.Stage, r.Diagnosis, r.Err)
	}
}

// TestDiagnosisTimeout: a server that accepts TCP and never answers the
// ClientHello must end the run at the check's timeout, in the tls stage.
func TestDiagnosisTimeout(t *testing.T) {
	p := newPKI(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	held := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c // keep it open, say nothing
		}
	}()
	t.Cleanup(func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	const timeout = 300 * time.Millisecond
	c := newTestCheck(t, p.profile(t, p.good), "mhttps://"+l.Addr().String()+"/", func(c *config.Check) { c.Timeout = timeout })
	r := c.Run(context.Background())
	if r.OK || r.Stage != StageTLS || !strings.HasPrefix(r.Diagnosis, "timeout") || !strings.Contains(r.Diagnosis, "never completed the TLS handshake") {
		t.Fatalf("stage %q diagnosis %q err %q", r.Stage, r.Diagnosis, r.Err)
	}
	if tot := r.Stages[StageTotal]; tot < timeout || tot > timeout+2*time.Second {
		t.Errorf("run took %v with a timeout of %v", tot, timeout)
	}
}

func TestDiagnosisDNS(t *testing.T) {
	p := newPKI(t)
	c := newTestCheck(t, p.profile(t, p.good), "mhttps://no-such-host.invalid/", func(c *config.Check) { c.Timeout = 2 * time.Second })
	r := c.Run(context.Background())
	if r.OK || r.Stage != StageDNS {
		t.Fatalf("stage %q diagnosis %q err %q", r.Stage, r.Diagnosis, r.Err)
	}
}

// TestRunAlertSurfacesOnRead proves both crypto/tls traps are real here:
// with the wrong client CA the client handshake itself succeeds under TLS 1.3
// and the rejection arrives on the first read; and tls.Config.Certificates
// silently sends no certificate when ours does not fit the server's request.
func TestRunAlertSurfacesOnRead(t *testing.T) {
	p := newPKI(t)
	addr := startGoServer(t, p, goServerOpts{})
	pool := x509.NewCertPool()
	pool.AddCert(p.serverCA.cert)
	prof := p.profile(t, p.wrongCA)
	for _, tc := range []struct {
		name string
		set  func(*tls.Config)
		want uint8
	}{
		{"Certificates sends nothing", func(c *tls.Config) { c.Certificates = []tls.Certificate{prof.client} }, alertCertificateRequired},
		{"GetClientCertificate sends ours", func(c *tls.Config) {
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &prof.client, nil }
		}, alertUnknownCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
			tc.set(cfg)
			conn, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatalf("handshake failed before any read: %v", err)
			}
			defer conn.Close()
			_, err = conn.Read(make([]byte, 1))
			if code, ok := remoteAlert(err); !ok || code != tc.want {
				t.Fatalf("first read: %v (alert %d), want alert %d", err, code, tc.want)
			}
		})
	}
}

func TestResultJSON(t *testing.T) {
	p := newPKI(t)
	addr := startGoServer(t, p, goServerOpts{})
	r := newTestCheck(t, p.profile(t, p.wrongCA), "mhttps://"+addr+"/", nil).Run(context.Background())
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Check != "partner" || back.Stage != StageTLS || back.Diagnosis != r.Diagnosis || len(back.AcceptableCAs) != 1 ||
		back.Stages[StageTLS] != r.Stages[StageTLS] || !back.ClientCertRequested {
		t.Errorf("round trip lost fields: %s", b)
	}
	for _, k := range []string{`"check"`, `"ok"`, `"stage"`, `"stages"`, `"acceptable_cas"`, `"our_issuer_accepted"`, `"diagnosis"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("json lacks %s: %s", k, b)
		}
	}
}

func TestRunHonoursContext(t *testing.T) {
	p := newPKI(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newTestCheck(t, p.profile(t, p.good), "mhttps://127.0.0.1:1/", nil).Run(ctx)
	if r.OK || r.Err == "" || !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("canceled run: %+v", r)
	}
}

// TestRunUsesInjectedClock: Result.Start and server-chain verification both
// follow Check.Now, so expiry is testable without waiting.
func TestRunUsesInjectedClock(t *testing.T) {
	p := newPKI(t)
	addr := startGoServer(t, p, goServerOpts{})
	c := newTestCheck(t, p.profile(t, p.good), "mhttps://"+addr+"/", nil)
	later := p.server.Leaf.NotAfter.Add(time.Hour)
	c.Now = func() time.Time { return later }
	r := c.Run(context.Background())
	if !r.Start.Equal(later) {
		t.Errorf("start %s, want the injected %s", r.Start, later)
	}
	if r.OK || r.Stage != StageTLS || !strings.Contains(r.Diagnosis, "the server's certificate") || !strings.Contains(r.Diagnosis, "expired at") {
		t.Errorf("stage %q diagnosis %q", r.Stage, r.Diagnosis)
	}
}

// TestDiagnosisSilentClose: a server that completes the handshake, asks for
// our certificate and then hangs up without an alert or a status.
func TestDiagnosisSilentClose(t *testing.T) {
	p := newPKI(t)
	pool := x509.NewCertPool()
	pool.AddCert(p.clientCA.cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{p.server},
		ClientAuth: tls.RequestClientCert, ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	r := newTestCheck(t, p.profile(t, p.wrongCA), "mhttps://"+l.Addr().String()+"/", nil).Run(context.Background())
	if r.OK || r.Stage != StageHTTP || !strings.Contains(r.Diagnosis, "closed the connection after the handshake") ||
		!strings.Contains(r.Diagnosis, "not among them") {
		t.Fatalf("stage %q diagnosis %q err %q", r.Stage, r.Diagnosis, r.Err)
	}
}

func TestResultSummary(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	chain := []CertInfo{{Subject: "CN=api.partner.example", NotAfter: start.Add(24 * time.Hour)}}
	for _, tc := range []struct {
		name string
		r    Result
		want string
	}{
		{"ok", Result{Check: "partner", OK: true, Status: 200, Stages: map[string]time.Duration{StageTotal: 42 * time.Millisecond},
			TLSVersion: "TLS 1.3", CipherSuite: "TLS_AES_128_GCM_SHA256", ServerChain: chain, ClientCertRequested: true,
			AcceptableCAs: []string{"CN=Partner CA"}, OurIssuerAccepted: true},
			"partner: ok, status 200 in 42ms (TLS 1.3, TLS_AES_128_GCM_SHA256)\n" +
				"  server certificate CN=api.partner.example, expires 2026-05-02T12:00:00Z\n" +
				"  client certificate requested; acceptable CAs: CN=Partner CA; our issuer accepted: true\n"},
		{"failed", Result{Check: "partner", Stage: StageConnect, Stages: map[string]time.Duration{StageTotal: time.Millisecond},
			Diagnosis: "connection refused"},
			"partner: FAILED in the connect stage after 1ms\n  diagnosis: connection refused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Summary(); got != tc.want {
				t.Errorf("summary\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
