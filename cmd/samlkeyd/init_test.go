package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/store"
)

// cliStderr runs samlkeyd with args and returns stdout, stderr and the
// error.
func cliStderr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newApp(strings.NewReader(""), &out, &errb).root()
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestNoStoreByAccident is issue 14's story: a command run from another
// directory must not make a second store in ./samlkeyd-data; it refuses,
// says where it looked and how to fix it, and creates nothing.
func TestNoStoreByAccident(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, k := range []string{"SAMLKEYD_DATA", "SAMLKEYD_DATABASE_URL", "SAMLKEYD_MASTER_KEY", "SAMLKEYD_MASTER_KEY_FILE"} {
		t.Setenv(k, "")
	}
	const want = "no samlkeyd store at ./samlkeyd-data (run samlkeyd init, or pass --data / set SAMLKEYD_DATA)"
	for _, args := range [][]string{
		{"check", "list"}, {"cert", "list"}, {"property", "list"}, {"audit"}, {"metadata"},
		{"token", "list"}, {"expiry"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, _, err := cliStderr(t, args...)
			if err == nil || err.Error() != want || !errors.Is(err, store.ErrNoStore) {
				t.Fatalf("samlkeyd %s on no store = %v, want %q", strings.Join(args, " "), err, want)
			}
			if exitCode(err) != 1 {
				t.Errorf("exit status %d, want 1 (as other usage errors)", exitCode(err))
			}
			if _, err := os.Stat("samlkeyd-data"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("samlkeyd %s created ./samlkeyd-data: %v", strings.Join(args, " "), err)
			}
		})
	}
	// migrate --dry-run looks without creating either.
	if _, _, err := cliStderr(t, "migrate", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("samlkeyd-data"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("migrate --dry-run created ./samlkeyd-data: %v", err)
	}
}

// TestInit: init makes the store (schema, base keystores, master key), says
// where and how to back the key up, refuses to run twice; afterwards every
// command opens the store and names it once on stderr.
func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	abs, _ := filepath.Abs(dir)
	out, _, err := cliStderr(t, "--data", dir, "init")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Created a samlkeyd store in " + abs + " (SQLite)", "Master key: " + filepath.Join(abs, "master.key"),
		`docs/operations.md, "Backing up the master key and the store"`, store.BaseKeystores()[0].Name} {
		if !strings.Contains(out, s) {
			t.Errorf("init output lacks %q:\n%s", s, out)
		}
	}
	for _, f := range []string{"samlkeyd.db", "master.key"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after init: %v", f, err)
		}
	}
	if _, _, err := cliStderr(t, "--data", dir, "init"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("init twice = %v, want refusal", err)
	}
	if _, _, err := cliStderr(t, "--data", dir, "--database-url", "postgres://x/y", "init"); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("init with --data and --database-url = %v, want refusal", err)
	}

	out, stderr, err := cliStderr(t, "--data", dir, "cert", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, abs) {
		t.Errorf("the store's name went to stdout:\n%s", out)
	}
	if n := strings.Count(stderr, abs); n != 1 {
		t.Errorf("stderr names the store %d times, want once:\n%s", n, stderr)
	}
	// Quiet when asked to be.
	if _, stderr, err := cliStderr(t, "--data", dir, "--log-level", "warn", "cert", "list"); err != nil || stderr != "" {
		t.Errorf("--log-level warn: stderr %q, %v", stderr, err)
	}
}
