package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/store"
)

// The store fixtures' sentinel passwords (store/testdata/gen.sh).
const (
	storeFixturePass = "Sentinel-Store-Pw-7q"
	storeFixtureKey  = "Sentinel-Key-Pw-3z"
)

// storeCLI runs samlkeyd against the store in dir and checks that no
// output or error carries a fixture password.
func storeCLI(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	out, err := cli(t, append([]string{"--data", dir, "--log-level", "error"}, args...)...)
	for _, s := range []string{out, errString(err)} {
		if strings.Contains(s, storeFixturePass) || strings.Contains(s, storeFixtureKey) {
			t.Errorf("samlkeyd %s printed a password", strings.Join(args, " "))
		}
	}
	return out, err
}

// newStore returns a data directory with a store made by samlkeyd init, as
// every command but init, serve and migrate needs one.
func newStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustCLI(t, "--data", dir, "--log-level", "error", "init")
	return dir
}

// jsonKeys returns the sorted keys of a JSON object.
func jsonKeys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestCertPropertyAuditCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	fixtures := filepath.Join("..", "..", "store", "testdata")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(storeFixturePass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAMLKEYD_KEYPASS", storeFixtureKey)
	if _, err := storeCLI(t, dir, "init"); err != nil {
		t.Fatal(err)
	}

	id, err := storeCLI(t, dir, "cert", "add", "--name", "Partner mTLS", "--type", "java_key_store",
		"--file", filepath.Join(fixtures, "sp.jks"), "--storepass-file", pwFile, "--keypass-env", "SAMLKEYD_KEYPASS")
	if err != nil {
		t.Fatalf("cert add: %v", err)
	}
	id = strings.TrimSpace(id)
	if !store.ValidID(id) {
		t.Fatalf("cert add printed %q, want a record id", id)
	}
	if _, err := storeCLI(t, dir, "cert", "add", "--name", "x", "--type", "trust_store_cert",
		"--file", filepath.Join(fixtures, "keypair.pem")); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("cert add of a trust cert with a key: %v, want refusal naming the private key", err)
	}
	if _, err := storeCLI(t, dir, "cert", "add", "--name", "y", "--type", "java_key_store",
		"--file", filepath.Join(fixtures, "sp.jks"), "--storepass", "wrong"); err == nil || !strings.Contains(err.Error(), "wrong store password") {
		t.Errorf("cert add with a wrong password: %v", err)
	}

	out, err := storeCLI(t, dir, "cert", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("cert list --json: %v\n%s", err, out)
	}
	if len(list) != 5 {
		t.Errorf("cert list --json has %d records, want 4 base + 1", len(list))
	}
	wantKeys := []string{"active", "alias", "created", "fingerprint_sha256", "format", "id", "name", "not_after", "type", "updated"}
	if got := jsonKeys(t, list[0]); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("record JSON keys %v, want %v (README documents them)", got, wantKeys)
	}

	if out, err := storeCLI(t, dir, "cert", "validate", id); err != nil || out != "Valid key_store\n" {
		t.Errorf("cert validate = %q, %v; want \"Valid key_store\"", out, err)
	}
	if out, err := storeCLI(t, dir, "cert", "validate", store.BaseSigningID); err != nil || out != "Valid key_store\n" {
		t.Errorf("cert validate base = %q, %v", out, err)
	}
	if out, err := storeCLI(t, dir, "cert", "show", id); err != nil || !strings.Contains(out, "alias:              sp\n") {
		t.Errorf("cert show = %q, %v", out, err)
	}

	if _, err := storeCLI(t, dir, "property", "set", store.PropEncryptionKeystore, id); err != nil {
		t.Fatal(err)
	}
	if out, err := storeCLI(t, dir, "property", "get", store.PropEncryptionKeystore); err != nil || out != id+"\n" {
		t.Errorf("property get = %q, %v", out, err)
	}
	if out, err := storeCLI(t, dir, "property", "get", store.PropSigningKeystore); err != nil || out != store.BaseSigningID+"\n" {
		t.Errorf("signing property = %q, %v; setting the other one must not touch it", out, err)
	}
	if _, err := storeCLI(t, dir, "property", "get", "no.such"); !errors.Is(err, errNotSet) {
		t.Errorf("property get unset = %v, want not set", err)
	}
	if _, err := storeCLI(t, dir, "property", "set", store.PropSigningKeystore, store.BaseFIPSID); err == nil || !strings.Contains(err.Error(), "inactive") {
		t.Errorf("property set to the inactive FIPS keystore = %v, want refusal", err)
	}
	out, err = storeCLI(t, dir, "property", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var props []store.Property
	if err := json.Unmarshal([]byte(out), &props); err != nil || len(props) != 2 {
		t.Errorf("property list --json = %s, %v", out, err)
	}

	if _, err := storeCLI(t, dir, "cert", "delete", id); err == nil || !strings.Contains(err.Error(), store.PropEncryptionKeystore) {
		t.Errorf("cert delete of a selected record = %v, want refusal naming the property", err)
	}
	if _, err := storeCLI(t, dir, "cert", "deactivate", id); err == nil {
		t.Error("cert deactivate of a selected record succeeded")
	}

	exported := filepath.Join(t.TempDir(), "out.jks")
	if _, err := storeCLI(t, dir, "cert", "export", id, "--out", exported); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(exported)
	want, _ := os.ReadFile(filepath.Join(fixtures, "sp.jks"))
	if string(got) != string(want) {
		t.Error("cert export wrote other bytes than were added")
	}
	if fi, _ := os.Stat(exported); fi.Mode().Perm() != 0o600 {
		t.Errorf("exported file mode %04o, want 0600", fi.Mode().Perm())
	}
	if keytool := tooltest.Path(t, "keytool"); keytool != "" {
		cmd := exec.Command(keytool, "-list", "-keystore", exported, "-storepass", storeFixturePass)
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "sp, ") {
			t.Errorf("keytool -list of the exported record: %v\n%s", err, b)
		}
	}

	if _, err := storeCLI(t, dir, "property", "set", store.PropEncryptionKeystore, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := storeCLI(t, dir, "cert", "deactivate", id); err != nil {
		t.Errorf("cert deactivate after clearing the property: %v", err)
	}
	if _, err := storeCLI(t, dir, "cert", "delete", id); err != nil {
		t.Errorf("cert delete after clearing the property: %v", err)
	}

	out, err = storeCLI(t, dir, "audit", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if got := jsonKeys(t, entries[0]); !reflect.DeepEqual(got, []string{"action", "actor", "after", "at", "before", "id", "object"}) {
		t.Errorf("audit JSON keys %v", got)
	}
	var last store.AuditEntry
	if err := json.Unmarshal(entries[len(entries)-1], &last); err != nil {
		t.Fatal(err)
	}
	if last.Action != store.ActionRecordDelete || last.Object != id || !strings.HasPrefix(last.Actor, "cli") {
		t.Errorf("last audit entry %+v, want the CLI's delete of %s", last, id)
	}

	if out, err := storeCLI(t, dir, "migrate", "--dry-run"); err != nil || !strings.HasPrefix(out, "up to date") {
		t.Errorf("migrate --dry-run = %q, %v", out, err)
	}
}

func TestMigrateCLIDryRunCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, err := storeCLI(t, dir, "migrate", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "pending 1:") || !strings.Contains(out, "pending 2:") {
		t.Errorf("migrate --dry-run on no store = %q", out)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Error("migrate --dry-run created the data directory")
	}
	if out, err := storeCLI(t, dir, "migrate"); err != nil || !strings.Contains(out, "applied 2:") {
		t.Errorf("migrate = %q, %v", out, err)
	}
}

// pgSchema is a PostgreSQL URL on a schema of the test's own, and its name.
func pgSchema(t *testing.T) (string, string) { return tooltest.PostgresSchema(t) }

// TestInitPostgreSQLMasterKeyFile: init of a PostgreSQL store writes the
// master key file it is given when there is none (0600), for every replica
// to be handed; the store then opens with it.
func TestInitPostgreSQLMasterKeyFile(t *testing.T) {
	dbURL, _ := pgSchema(t)
	t.Setenv("SAMLKEYD_MASTER_KEY", "")
	keyFile := filepath.Join(t.TempDir(), "master.key")
	out, err := cli(t, "--database-url", dbURL, "--master-key-file", keyFile, "--log-level", "error", "init")
	if err != nil || !strings.Contains(out, "Master key: "+keyFile) {
		t.Fatalf("init = %q, %v", out, err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file after init: %v", err)
	}
	if out, err := cli(t, "--database-url", dbURL, "--master-key-file", keyFile, "--log-level", "error", "cert", "validate", store.BaseSigningID); err != nil || out != "Valid key_store\n" {
		t.Errorf("cert validate with the new key file = %q, %v", out, err)
	}
}

// TestStoreCLIOnPostgreSQL runs the CLI against a PostgreSQL store in a
// schema of its own, with the master key from SAMLKEYD_MASTER_KEY.
func TestStoreCLIOnPostgreSQL(t *testing.T) {
	dbURL, schema := pgSchema(t)

	// No schema: every command but init refuses, naming the database.
	if _, err := cli(t, "--database-url", dbURL, "cert", "list"); !errors.Is(err, store.ErrNoStore) ||
		!strings.Contains(err.Error(), "database samlkeyd_test schema "+schema) || !strings.Contains(err.Error(), "samlkeyd init --database-url") {
		t.Fatalf("cert list on an empty PostgreSQL schema = %v, want no store there and a hint at init", err)
	}
	// serve does not make a PostgreSQL store either: replicas share it.
	if _, err := cli(t, "--database-url", dbURL, "serve", "--listen", "127.0.0.1:0"); !errors.Is(err, store.ErrNoStore) {
		t.Fatalf("serve on an empty PostgreSQL schema = %v, want no store", err)
	}
	// No master key: refused, since replicas must share one.
	if _, err := cli(t, "--database-url", dbURL, "init"); err == nil || !strings.Contains(err.Error(), "SAMLKEYD_MASTER_KEY") {
		t.Fatalf("init on PostgreSQL without a master key = %v, want a hint at SAMLKEYD_MASTER_KEY", err)
	}
	t.Setenv("SAMLKEYD_MASTER_KEY", strings.Repeat("5a", 32))
	t.Setenv("SAMLKEYD_DATABASE_URL", dbURL) // the environment names the store
	if out, err := cli(t, "--log-level", "error", "init"); err != nil || !strings.Contains(out, "SAMLKEYD_MASTER_KEY") {
		t.Fatalf("init on PostgreSQL = %q, %v", out, err)
	}
	out, err := cli(t, "--log-level", "error", "cert", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil || len(recs) != 4 {
		t.Fatalf("cert list --json on PostgreSQL: %d records, %v", len(recs), err)
	}
	if out, err := cli(t, "--log-level", "error", "cert", "validate", store.BaseEncryptionID); err != nil || out != "Valid key_store\n" {
		t.Errorf("cert validate = %q, %v", out, err)
	}
	if out, err := cli(t, "--log-level", "error", "property", "get", store.PropEncryptionKeystore); err != nil || out != store.BaseEncryptionID+"\n" {
		t.Errorf("property get = %q, %v", out, err)
	}
	t.Setenv("SAMLKEYD_MASTER_KEY", strings.Repeat("a5", 32))
	if _, err := cli(t, "cert", "list"); err == nil || err.Error() != "cannot unseal keystore passwords: wrong master key?" {
		t.Errorf("cert list with another master key = %v", err)
	}
}

func TestStoreOptionsPrecedence(t *testing.T) {
	tests := []struct {
		name              string
		flags             []string
		env               map[string]string
		wantData, wantURL string
		wantKeyFile       string
		wantKey           bool
	}{
		{name: "defaults", wantData: store.DefaultDataDir},
		{name: "environment", env: map[string]string{"SAMLKEYD_DATA": "/env/data", "SAMLKEYD_DATABASE_URL": "postgres://env/db",
			"SAMLKEYD_MASTER_KEY_FILE": "/env/key", "SAMLKEYD_MASTER_KEY": "k"},
			wantData: "/env/data", wantURL: "postgres://env/db", wantKeyFile: "/env/key", wantKey: true},
		{name: "flags win", flags: []string{"--data", "/flag/data", "--database-url", "postgres://flag/db", "--master-key-file", "/flag/key"},
			env:      map[string]string{"SAMLKEYD_DATA": "/env/data", "SAMLKEYD_DATABASE_URL": "postgres://env/db", "SAMLKEYD_MASTER_KEY_FILE": "/env/key"},
			wantData: "/flag/data", wantURL: "postgres://flag/db", wantKeyFile: "/flag/key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"SAMLKEYD_DATA", "SAMLKEYD_DATABASE_URL", "SAMLKEYD_MASTER_KEY_FILE", "SAMLKEYD_MASTER_KEY"} {
				t.Setenv(k, tt.env[k])
			}
			a := newApp(strings.NewReader(""), io.Discard, io.Discard)
			root := a.root()
			if err := root.ParseFlags(tt.flags); err != nil {
				t.Fatal(err)
			}
			o, err := a.storeOptions()
			if err != nil {
				t.Fatal(err)
			}
			if o.DataDir != tt.wantData || o.DatabaseURL != tt.wantURL || o.MasterKeyFile != tt.wantKeyFile || o.MasterKey.Empty() == tt.wantKey {
				t.Errorf("options = data %q url %q keyfile %q key set %v", o.DataDir, o.DatabaseURL, o.MasterKeyFile, !o.MasterKey.Empty())
			}
		})
	}
}
