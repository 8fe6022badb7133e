package main

import (
	"context"
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

	"github.com/samlkeyd/samlkeyd/store"
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

// TestRotateByHand: publish, a promotion refused (exit 1) naming the IdP
// behind, --force, cancel — without a rotation block.
func TestRotateByHand(t *testing.T) {
	ctx := context.Background()
	data, dir := t.TempDir(), t.TempDir()
	cfg := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, store.Options{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordMetadataFetch(ctx, "corp", time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) (string, error) {
		return cli(t, append([]string{"--config", cfg, "--data", data}, args...)...)
	}
	if _, err := run("rotate", "promote", "--use", "signing"); err == nil || !strings.Contains(err.Error(), "no next key") {
		t.Fatalf("promote with nothing published: %v", err)
	}
	out, err := run("rotate", "publish", "--use", "signing")
	if err != nil || !strings.Contains(out, "as the next signing key") {
		t.Fatalf("publish: %q %v", out, err)
	}
	if pem := mustCLI(t, "--config", cfg, "--data", data, "metadata", "pem", "--use", "signing"); strings.Count(pem, "BEGIN CERTIFICATE") != 2 {
		t.Fatal("the next key is not in the signing PEM")
	}
	_, err = run("rotate", "promote", "--use", "signing")
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "corp (last fetch 2026-11-30T09:00:00Z)") {
		t.Fatalf("promote while corp is behind: exit %d, %v", exitCode(err), err)
	}
	if out, err := run("rotate", "promote", "--use", "signing", "--force"); err != nil || !strings.Contains(out, "promoted") {
		t.Fatalf("promote --force: %q %v", out, err)
	}
	status := mustCLI(t, "--config", cfg, "--data", data, "rotate", "status")
	if !strings.Contains(status, "retired") || !strings.Contains(status, "until ") {
		t.Fatalf("rotate status after a promotion without a policy:\n%s", status)
	}
	if _, err := run("rotate", "publish", "--use", "encryption", "--replace"); err != nil {
		t.Fatal(err)
	}
	if pem := mustCLI(t, "--config", cfg, "--data", data, "metadata", "pem", "--use", "encryption"); strings.Count(pem, "BEGIN CERTIFICATE") != 1 {
		t.Fatal("replace mode: the encryption PEM must list the next certificate alone")
	}
	if out, err := run("rotate", "cancel", "--use", "encryption"); err != nil || !strings.Contains(out, "withdrew") {
		t.Fatalf("cancel: %q %v", out, err)
	}
}
