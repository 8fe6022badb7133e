package main

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRotateCommands(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(`rotation:
  signing: {validity: 2160h, rotate_before: 720h, publish_for: 168h, retire_after: 336h, schedule: "@daily"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	before := mustCLI(t, "--config", cfg, "--data", data, "metadata", "pem", "--use", "signing")
	if out := mustCLI(t, "--config", cfg, "--data", data, "rotate", "--use", "signing"); !strings.Contains(out, "nothing due") {
		t.Fatalf("rotate with two years left: %q", out)
	}
	out := mustCLI(t, "--config", cfg, "--data", data, "rotate", "--use", "signing", "--now")
	if !strings.Contains(out, "generate_next") || !strings.Contains(out, "promote") {
		t.Fatalf("rotate --now: %q", out)
	}
	after := mustCLI(t, "--config", cfg, "--data", data, "metadata", "pem", "--use", "signing")
	if !strings.HasSuffix(after, before) || after == before {
		t.Fatal("after rotate --now the signing PEM must list the new certificate first and still the old one")
	}
	status := mustCLI(t, "--config", cfg, "--data", data, "rotate", "status")
	if strings.Count(status, "signing") < 2 || !strings.Contains(status, "active") || !strings.Contains(status, "retired") {
		t.Fatalf("rotate status:\n%s", status)
	}
	if _, err := cli(t, "--config", cfg, "--data", data, "rotate", "--use", "encryption"); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("rotate an unconfigured use: %v", err)
	}
}

// TestRotateSurvivesSIGKILL kills `samlkeyd rotate --now` at random points
// (before, inside and between its steps) and checks after each kill that
// the store is consistent — the snapshot builds, at most one next key, the
// property's record is the one active key — and that the next run
// completes the rollover.
func TestRotateSurvivesSIGKILL(t *testing.T) {
	bin := samlkeydBinary(t)
	data, dir := newStore(t), t.TempDir()
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte(`rotation:
  signing: {validity: 2160h, rotate_before: 720h, publish_for: 168h, retire_after: 336h, schedule: "@daily"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "--config", cfg, "--data", data, "cert", "list")
	consistent := func(when string) {
		t.Helper()
		if _, err := cli(t, "--config", cfg, "--data", data, "metadata"); err != nil {
			t.Fatalf("%s: the snapshot does not build: %v", when, err)
		}
		var status struct {
			Keys []struct {
				State    string `json:"state"`
				Use      string `json:"use"`
				Selected bool   `json:"selected"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(mustCLI(t, "--config", cfg, "--data", data, "rotate", "status", "--json")), &status); err != nil {
			t.Fatal(err)
		}
		rows := status.Keys
		next, active := 0, 0
		for _, r := range rows {
			if r.Use != "signing" {
				continue
			}
			switch r.State {
			case "next":
				next++
			case "active":
				active++
				if !r.Selected {
					t.Fatalf("%s: an active key the property does not select: %+v", when, rows)
				}
			}
		}
		if next > 1 || active != 1 {
			t.Fatalf("%s: %d next and %d active signing keys: %+v", when, next, active, rows)
		}
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	killed := 0
	for i := range 10 {
		cmd := exec.Command(bin, "--config", cfg, "--data", data, "--log-level", "error", "rotate", "--use", "signing", "--now")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done: // finished before the kill point
		case <-time.After(time.Duration(rng.IntN(300)) * time.Millisecond):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
		consistent(fmt.Sprintf("after run %d", i))
	}
	mustCLI(t, "--config", cfg, "--data", data, "rotate", "--use", "signing", "--now")
	consistent("after a run to completion")
	t.Logf("%d of 10 runs killed mid-way", killed)
}

// TestCertRenew: a renewal keystore keeps the record's subject and alias,
// opens in keytool, and its CSR verifies with openssl.
func TestCertRenew(t *testing.T) {
	data, dir := newStore(t), t.TempDir()
	ks, csr := filepath.Join(dir, "renew.jks"), filepath.Join(dir, "renew.csr")
	mustCLI(t, "--data", data, "cert", "renew", "3685fc22930212003c5537ae867ffb91", "--keystore-out", ks, "--storepass", "Renew-Pass-1", "--out", csr)
	list := tool(t, "keytool", "-list", "-v", "-keystore", ks, "-storepass", "Renew-Pass-1")
	if !strings.Contains(list, "saml2sp") || !strings.Contains(list, "SAML 2.0 Keystore_Key2048_SHA256") {
		t.Fatalf("keytool -list of the renewal keystore:\n%s", list)
	}
	if out := tool(t, "openssl", "req", "-in", csr, "-noout", "-verify"); !strings.Contains(out, "verify OK") {
		t.Fatalf("openssl req -verify: %s", out)
	}
	if _, err := cli(t, "--data", data, "cert", "renew", "3685fc22930212003c5537ae867ffb91", "--keystore-out", ks, "--storepass", "x"); err == nil {
		t.Fatal("renew overwrote an existing keystore file")
	}
}
