//go:build cgo

package pkcs11

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
)

// TestPKCS11MTLSClientAgainstOpenSSL: a TLS client certificate whose key is
// in the token passes `openssl s_server -Verify 1 -verify_return_error`,
// in TLS 1.3 (RSA-PSS and ECDSA through the token) and TLS 1.2 (PKCS#1
// v1.5 for RSA).
func TestPKCS11MTLSClientAgainstOpenSSL(t *testing.T) {
	s := hsm(t)
	rsaKey := generate(t, s, "mtls-rsa", "rsa")
	ecKey := generate(t, s, "mtls-ec", "ec")
	for _, tc := range []struct {
		name    string
		key     *Key
		version uint16
	}{
		{"RSA TLS 1.3", rsaKey, tls.VersionTLS13},
		{"RSA TLS 1.2", rsaKey, tls.VersionTLS12},
		{"EC TLS 1.3", ecKey, tls.VersionTLS13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := startSServer(t, tc.key.Chain()[0])
			cert := tls.Certificate{Certificate: [][]byte{tc.key.Chain()[0].Raw}, PrivateKey: tc.key.Signer()}
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, // the test server's own certificate
				MinVersion: tc.version, MaxVersion: tc.version,
			})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			defer conn.Close()
			fmt.Fprint(conn, "GET / HTTP/1.0\r\n\r\n")
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			body, _ := io.ReadAll(conn)
			if !strings.Contains(string(body), "Client certificate") || !strings.Contains(string(body), "sp.example.com") {
				t.Fatalf("s_server did not see the client certificate:\n%s", body)
			}
		})
	}
}

// startSServer runs openssl s_server on a loopback port requiring a client
// certificate issued by (here: equal to) clientCA.
func startSServer(t *testing.T, clientCA *x509.Certificate) string {
	t.Helper()
	openssl := tooltest.Path(t, "openssl")
	dir := t.TempDir()
	srv, err := keys.Generate(keys.GenerateOptions{Alias: "srv", DName: "CN=localhost"})
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srv.Key)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"srv.pem": keys.EncodePEM(srv.Chain), "ca.pem": keys.EncodePEM([]*x509.Certificate{clientCA}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyFile := writePEM(t, "PRIVATE KEY", keyDER)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(openssl, "s_server", "-accept", fmt.Sprintf("127.0.0.1:%d", port), "-cert", filepath.Join(dir, "srv.pem"), "-key", keyFile,
		"-CAfile", filepath.Join(dir, "ca.pem"), "-Verify", "1", "-verify_return_error", "-www")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ACCEPT") {
				close(ready)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("openssl s_server did not start")
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}
