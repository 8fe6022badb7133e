package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestComponentsOffline is the typo seen from the CLI: config
// validate reports the broken profile and check against the store (and
// passes --offline), status lists every component, check list marks the
// check that cannot be built.
func TestComponentsOffline(t *testing.T) {
	data := newStore(t)
	dir := t.TempDir()
	mustCLI(t, "--data", data, "metadata", "pem", "--use", "signing") // creates the store
	write := func(name, conf string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	good := write("good.yaml", `profiles:
  - {name: mhttps, keystore: "SAML 2.0 Keystore_Key2048_SHA256", default_port: 443}
checks:
  - {name: partner, url: "mhttps://127.0.0.1/health", schedule: "@every 5m", timeout: 5s}
`)
	bad := write("bad.yaml", `profiles:
  - {name: mhttps, keystore: letstestcbaa, default_port: 443}
checks:
  - {name: partner, url: "mhttps://127.0.0.1/health", schedule: "@every 5m", timeout: 5s}
`)

	if out := mustCLI(t, "--config", good, "--data", data, "config", "validate"); out != "config OK\n" {
		t.Fatalf("config validate (good):\n%s", out)
	}
	out, err := cli(t, "--config", bad, "--data", data, "config", "validate")
	wantProfile := `profile "mhttps": profiles[0]: protocol profile "mhttps": keystore: no certificate record has id or name "letstestcbaa"`
	wantCheck := `check "partner": checks[0]: check "partner": its profile failed: profiles[0]`
	if exitCode(err) != 1 || !strings.Contains(out, wantProfile) || !strings.Contains(out, wantCheck) || strings.Contains(out, "config OK") {
		t.Fatalf("config validate (bad): exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if errString(err) != "2 components failed" {
		t.Errorf("config validate (bad) error = %v", err)
	}
	if out := mustCLI(t, "--config", bad, "--data", data, "config", "validate", "--offline"); out != "config OK\n" {
		t.Fatalf("config validate --offline (bad records):\n%s", out)
	}

	out, err = cli(t, "--config", bad, "--data", data, "status")
	if exitCode(err) != 1 {
		t.Fatalf("status (bad): exit %d (%v)\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"core     core     ok", "store    store    ok", "check    partner  failed", "profile  mhttps   failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	out, _ = cli(t, "--config", bad, "--data", data, "status", "--json")
	var r componentReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	failed := map[string]string{}
	for _, c := range r.Components {
		if !c.OK {
			failed[c.Kind+"/"+c.Name] = c.Error
		}
	}
	if !r.Ready || len(failed) != 2 || !strings.Contains(failed["check/partner"], "letstestcbaa") {
		t.Fatalf("status --json: ready %v, failed %v", r.Ready, failed)
	}
	if out := mustCLI(t, "--config", good, "--data", data, "status"); strings.Contains(out, "failed") {
		t.Fatalf("status (good):\n%s", out)
	}

	list := mustCLI(t, "--config", bad, "--data", data, "check", "list")
	if !strings.Contains(list, "partner") || !strings.Contains(list, "cannot be built: checks[0]") {
		t.Fatalf("check list (bad):\n%s", list)
	}
}
