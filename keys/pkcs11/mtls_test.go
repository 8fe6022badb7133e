//go:build cgo

package pkcs11

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
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
	return tooltest.StartSServer(t, filepath.Join(dir, "srv.pem"), keyFile, filepath.Join(dir, "ca.pem"))
}
