package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckCommands(t *testing.T) {
	data := newStore(t)
	dir := t.TempDir()
	// The partner trusts our base signing keystore's certificate.
	blk, _ := pem.Decode([]byte(mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing")))
	ours, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ours)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	serverPEM := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(serverPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "--data", data, "cert", "add", "--name", "Partner server", "--type", "trust_store_cert", "--file", serverPEM)

	u, _ := url.Parse(srv.URL)
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	conf := `profiles:
  - {name: mhttps, keystore: "SAML 2.0 Keystore_Key2048_SHA256", default_port: 443, trust_store: ["Partner server"]}
checks:
  - {name: partner, url: "mhttps://` + u.Host + `/health", schedule: "@every 5m", timeout: 5s}
  - {name: untrusted, url: "https://` + u.Host + `/health", profile: mhttps, schedule: "@every 5m", timeout: 5s}
`
	// "untrusted" reaches the same server by a name its certificate does
	// not carry.
	conf = strings.Replace(conf, `"https://`+u.Host, `"https://localhost:`+u.Port(), 1)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	out := mustCLI(t, "--config", cfg, "--data", data, "check", "run", "partner")
	if !strings.HasPrefix(out, "partner: ok, status 200") || !strings.Contains(out, "client certificate requested") {
		t.Fatalf("check run partner:\n%s", out)
	}
	out, err = cli(t, "--config", cfg, "--data", data, "check", "run", "--all")
	if exitCode(err) != 1 || !strings.Contains(out, "untrusted: FAILED in the tls stage") || !strings.Contains(out, "diagnosis:") {
		t.Fatalf("check run --all: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	list := mustCLI(t, "--config", cfg, "--data", data, "check", "list")
	if !strings.Contains(list, "partner") || !strings.Contains(list, "failed (tls)") {
		t.Fatalf("check list:\n%s", list)
	}
	hist := mustCLI(t, "--data", data, "check", "history", "partner")
	if strings.Count(hist, "partner: ok") != 2 {
		t.Fatalf("check history partner: want two ok runs:\n%s", hist)
	}
	if _, err := cli(t, "--config", cfg, "--data", data, "check", "run", "nobody"); err == nil || !strings.Contains(err.Error(), `check "nobody"`) {
		t.Fatalf("check run nobody: %v", err)
	}
}
