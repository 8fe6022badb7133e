package mtls

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
)

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProcess runs an external server, waits until addr accepts TCP
// connections and kills the process when the test ends.
func startProcess(t testing.TB, addr string, name string, args ...string) {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited before listening on %s: %v\n%s", name, addr, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 10s:\n%s", name, addr, out.String())
		}
	}
}

// serverFiles writes the server certificate, key and client CA as PEM.
type serverFiles struct{ dir, cert, key, clientCA string }

func writeServerFiles(t testing.TB, p *testPKI) serverFiles {
	dir := t.TempDir()
	leaf := p.server.Leaf
	return serverFiles{
		dir:      dir,
		cert:     writePEM(t, dir, "server.pem", []*x509.Certificate{leaf}, nil),
		key:      writePEM(t, dir, "server.key", nil, p.server.PrivateKey),
		clientCA: writePEM(t, dir, "client-ca.pem", []*x509.Certificate{p.clientCA.cert}, nil),
	}
}

// startOpenSSL starts `openssl s_server -Verify 1 -www` on 127.0.0.1;
// verify=false starts it without asking for client certificates.
func startOpenSSL(t testing.TB, p *testPKI, verify bool, extra ...string) string {
	bin := tooltest.Path(t, "openssl")
	f := writeServerFiles(t, p)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"s_server", "-accept", addr, "-www", "-cert", f.cert, "-key", f.key}
	if verify {
		args = append(args, "-Verify", "1", "-verify_return_error", "-CAfile", f.clientCA)
	}
	startProcess(t, addr, bin, append(args, extra...)...)
	return addr
}

// startNginx starts nginx with ssl_verify_client on (or off) and a minimal
// config whose every path is inside a temp dir.
func startNginx(t testing.TB, p *testPKI, verify bool) string {
	bin := tooltest.Path(t, "nginx")
	f := writeServerFiles(t, p)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	onOff := "off"
	if verify {
		onOff = "on"
	}
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]s ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate %[3]s;
    ssl_certificate_key %[4]s;
    ssl_client_certificate %[5]s;
    ssl_verify_client %[6]s;
    location / { return 200 "ok\n"; }
  }
}
`, f.dir, addr, f.cert, f.key, f.clientCA, onOff)
	path := filepath.Join(f.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, addr, bin, "-p", f.dir, "-c", path, "-e", filepath.Join(f.dir, "error.log"))
	return addr
}

// TestIndependentServers runs checks against openssl s_server and nginx,
// two TLS stacks that are not Go's, each in the situations that matter.
func TestIndependentServers(t *testing.T) {
	p := newPKI(t)
	type server func(t testing.TB, verify bool) string
	servers := []struct {
		name  string
		start server
	}{
		{"openssl s_server", func(t testing.TB, v bool) string { return startOpenSSL(t, p, v) }},
		{"openssl s_server TLS 1.2", func(t testing.TB, v bool) string { return startOpenSSL(t, p, v, "-tls1_2") }},
		{"nginx", func(t testing.TB, v bool) string { return startNginx(t, p, v) }},
	}
	cases := []struct {
		name      string
		client    *keys.Entry
		verify    bool
		wantOK    bool
		wantStage string
		want      []string
	}{
		{name: "good client", client: p.good, verify: true, wantOK: true},
		{name: "wrong client CA", client: p.wrongCA, verify: true, wantStage: StageTLS,
			want: []string{"did not trust our client certificate", "CN=Test Client CA", "not among them"}},
		{name: "expired client certificate", client: p.expired, verify: true, wantStage: StageTLS,
			want: []string{"our client certificate", "expired at"}},
		{name: "server never asks", client: p.good, verify: false, wantStage: StageTLS,
			want: []string{"never asked for a client certificate"}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					addr := srv.start(t, tc.verify)
					r := newTestCheck(t, p.profile(t, tc.client), "mhttps://"+addr+"/", nil).Run(context.Background())
					t.Logf("stage %q status %d version %s diagnosis: %s", r.Stage, r.Status, r.TLSVersion, r.Diagnosis)
					if r.OK != tc.wantOK || (tc.wantStage != "" && r.Stage != tc.wantStage) {
						t.Fatalf("ok %v stage %q, want %v %q; err %q", r.OK, r.Stage, tc.wantOK, tc.wantStage, r.Err)
					}
					for _, w := range tc.want {
						if !strings.Contains(r.Diagnosis, w) {
							t.Errorf("diagnosis %q lacks %q", r.Diagnosis, w)
						}
					}
					if tc.verify {
						if !r.ClientCertRequested || len(r.AcceptableCAs) == 0 || r.AcceptableCAs[0] != p.clientCA.cert.Subject.String() {
							t.Errorf("requested %v acceptable CAs %q", r.ClientCertRequested, r.AcceptableCAs)
						}
						if r.OurIssuerAccepted != (tc.client != p.wrongCA) {
							t.Errorf("our issuer accepted = %v", r.OurIssuerAccepted)
						}
					}
				})
			}
		})
	}
}
