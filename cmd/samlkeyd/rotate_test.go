package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotateCommands(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
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
