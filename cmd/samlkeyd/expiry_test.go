package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeCert(t *testing.T, path, cn string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestExpiryCommand(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	for _, c := range []struct {
		name string
		in   time.Duration
	}{{"Partner root", 5 * 24 * time.Hour}, {"Partner intermediate", 20 * 24 * time.Hour}} {
		f := filepath.Join(dir, c.name+".pem")
		writeCert(t, f, c.name, time.Now().Add(c.in))
		mustCLI(t, "--data", data, "cert", "add", "--name", c.name, "--type", "trust_store_cert", "--file", f)
	}
	var list []struct {
		Source, Owner, Use, Subject string
		NotAfter                    time.Time `json:"not_after"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", data, "expiry", "--within", "30d", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Owner != "Partner root" || list[1].Owner != "Partner intermediate" || list[0].Use != "trust" {
		t.Fatalf("expiry --within 30d: want the two trust-store certificates, soonest first: %+v", list)
	}
	all := mustCLI(t, "--data", data, "expiry")
	if !strings.Contains(all, "SAML 2.0 Keystore_Key2048_SHA256 ") || strings.Index(all, "Partner root") > strings.Index(all, "SAML 2.0") {
		t.Fatalf("expiry lists everything, soonest first:\n%s", all)
	}
	if _, err := cli(t, "--data", data, "expiry", "--within", "ninety"); err == nil {
		t.Fatal("--within ninety accepted")
	}
}
