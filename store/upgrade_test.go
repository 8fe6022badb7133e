package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// legacyID is the record the v1 fixture's signing property selects.
const legacyID = "b1d5e2c0a0f14e3c8d7b6a5f4e3d2c1b"

// fixtureMasterKey is the key that sealed v1.db's passwords.
func fixtureMasterKey(t testing.TB) secret.Value {
	return secret.New(readFixture(t, "master.key"))
}

// writeV1Contents fills a store at schema version 1 the way the release
// before the encryption property left it: one keystore record, selected by
// the signing property. The record's facts come from the certificate
// keytool exported, not from parsing the keystore.
// master is encoded as Options.MasterKey is.
func writeV1Contents(t testing.TB, ctx context.Context, db *sql.DB, d dialect, master secret.Value) {
	t.Helper()
	cert, err := x509.ParseCertificate(readFixture(t, "legacy.der"))
	if err != nil {
		t.Fatal(err)
	}
	master, err = decodeMasterKey(master.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &Store{db: db, d: d, master: master, rand: rand.Reader, now: func() time.Time { return at }}
	rec := &Record{
		ID: legacyID, Name: "Legacy SP keystore", Type: TypeJavaKeyStore, Format: keys.FormatJKS, Active: true,
		Alias: "legacy", NotAfter: cert.NotAfter.UTC(), FingerprintSHA256: keys.FingerprintSHA256(cert),
		Created: at, Updated: at, Data: readFixture(t, "legacy.jks"),
		StorePassword: secret.FromString(sentinelStorePass), KeyPassword: secret.FromString(sentinelStorePass),
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertV1Record(ctx, tx, s, rec); err != nil {
			return fmt.Errorf("insert legacy record: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO properties (name, value, updated) VALUES ($1, $2, $3)`,
			PropSigningKeystore, legacyID, fmtTime(at)); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, at, "cli:admin", ActionPropertySet, PropSigningKeystore, "", legacyID); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		t.Fatalf("write v1 contents: %v", err)
	}
}

// insertV1Record inserts rec as the first schema stored records: passwords
// sealed, data as given, no public facts beyond not-after and fingerprint.
func insertV1Record(ctx context.Context, tx *sql.Tx, s *Store, rec *Record) error {
	sp, err := s.seal(rec.StorePassword.Reveal(), sealAAD(rec.ID, "store_password"))
	if err != nil {
		return err
	}
	kp, err := s.seal(rec.KeyPassword.Reveal(), sealAAD(rec.ID, "key_password"))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO records
		(id, name, type, format, active, data, alias, store_password, key_password, not_after, fingerprint_sha256, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		rec.ID, rec.Name, string(rec.Type), string(rec.Format), rec.Active, rec.Data, rec.Alias, sp, kp,
		fmtTime(rec.NotAfter), rec.FingerprintSHA256, fmtTime(rec.Created), fmtTime(rec.Updated))
	return err
}

// TestWriteV1Fixture writes testdata/v1.db when testdata/gen.sh asks for it.
func TestWriteV1Fixture(t *testing.T) {
	if !*writeV1Fixture {
		t.Skip("run testdata/gen.sh to rewrite the fixture")
	}
	ctx := context.Background()
	dir := t.TempDir()
	db, d, err := openDB(ctx, Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(ctx, db, d, time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC), 1, discardLogger()); err != nil {
		t.Fatal(err)
	}
	writeV1Contents(t, ctx, db, d, fixtureMasterKey(t))
	if _, err := db.Exec(`PRAGMA journal_mode=DELETE`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, sqliteFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", "v1.db"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// v1Store returns Options for a store at schema version 1 holding the
// legacy record and the signing property: on SQLite a copy of the committed
// fixture, on PostgreSQL the same steps that wrote the fixture.
func v1Store(t *testing.T, b backend) Options {
	t.Helper()
	o := b.options(t)
	o.MasterKey = fixtureMasterKey(t)
	if b.name == "sqlite" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(o.DataDir, sqliteFile), readFixture(t, "v1.db"), 0o600); err != nil {
			t.Fatal(err)
		}
		return o
	}
	ctx := context.Background()
	db, d, err := openDB(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := migrate(ctx, db, d, time.Now(), 1, discardLogger()); err != nil {
		t.Fatal(err)
	}
	writeV1Contents(t, ctx, db, d, o.MasterKey)
	return o
}

func TestUpgradeCopiesSigningIntoEncryptionOnce(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			o := v1Store(t, b)
			pending, err := Migrate(ctx, o, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != latest()-1 || pending[0].Version != 2 {
				t.Fatalf("pending migrations of a v1 store = %+v, want versions 2 to %d", pending, latest())
			}

			s := open(t, o)
			for _, p := range []string{PropSigningKeystore, PropEncryptionKeystore} {
				if v, ok, err := s.Property(ctx, p); err != nil || !ok || v != legacyID {
					t.Errorf("after upgrade %s = %q, %v, %v; want %s", p, v, ok, err, legacyID)
				}
			}
			if got := copies(t, s); len(got) != 1 || got[0].Actor != actorMigration || got[0].Object != PropEncryptionKeystore ||
				got[0].Before != "" || got[0].After != legacyID {
				t.Errorf("upgrade copy audit entries = %+v, want one by %q copying %s", got, actorMigration, legacyID)
			}
			legacy, err := s.Record(ctx, legacyID)
			if err != nil {
				t.Fatal(err)
			}
			if string(legacy.StorePassword.Reveal()) != sentinelStorePass {
				t.Error("legacy record's store password did not unseal to the one v1 sealed")
			}
			if _, err := legacy.Parse(); err != nil {
				t.Errorf("legacy keystore does not open with its unsealed passwords: %v", err)
			}
			// Its public facts were stored when the upgraded store opened.
			if c := legacy.Chain(); len(c) != 1 || !bytes.Equal(c[0].Raw, readFixture(t, "legacy.der")) || legacy.FingerprintSHA1 == "" ||
				!strings.Contains(legacy.Subject, "CN=legacy.example.com") {
				t.Errorf("legacy record's facts not completed: %d certificates, sha1 %q, subject %q", len(c), legacy.FingerprintSHA1, legacy.Subject)
			}
			// Base keystores appear, but the properties keep the store's choice.
			if _, err := s.Record(ctx, BaseEncryptionID); err != nil {
				t.Errorf("base encryption keystore not created on upgrade: %v", err)
			}

			// Independent afterwards: changing one never touches the other.
			if err := s.SetProperty(ctx, "test", PropEncryptionKeystore, BaseEncryptionID); err != nil {
				t.Fatal(err)
			}
			assertProp(t, s, PropSigningKeystore, legacyID)
			if err := s.SetProperty(ctx, "test", PropSigningKeystore, ""); err != nil {
				t.Fatal(err)
			}
			assertProp(t, s, PropEncryptionKeystore, BaseEncryptionID)
			assertProp(t, s, PropSigningKeystore, "")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// Re-running migrations never copies again.
			if applied, err := Migrate(ctx, o, false); err != nil || len(applied) != 0 {
				t.Fatalf("Migrate on an upgraded store applied %+v, %v; want nothing", applied, err)
			}
			s = open(t, o)
			assertProp(t, s, PropSigningKeystore, "")
			assertProp(t, s, PropEncryptionKeystore, BaseEncryptionID)
			if got := copies(t, s); len(got) != 1 {
				t.Errorf("after reopening, %d upgrade copies in the audit log, want 1", len(got))
			}
		})
	}
}

func TestMigrateV2Cases(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name           string
		before         map[string]string
		wantEncryption string
		wantCopies     int
	}{
		{"signing set, encryption unset: copied", map[string]string{PropSigningKeystore: "aa"}, "aa", 1},
		{"signing unset: nothing to copy", map[string]string{}, "", 0},
		{"signing empty: nothing to copy", map[string]string{PropSigningKeystore: ""}, "", 0},
		{"both set: encryption kept", map[string]string{PropSigningKeystore: "aa", PropEncryptionKeystore: "bb"}, "bb", 0},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					o := b.options(t)
					db, d, err := openDB(ctx, o)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					if _, err := migrate(ctx, db, d, time.Now(), 1, discardLogger()); err != nil {
						t.Fatal(err)
					}
					for k, v := range tt.before {
						if _, err := db.Exec(`INSERT INTO properties (name, value, updated) VALUES ($1, $2, '')`, k, v); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := migrate(ctx, db, d, time.Now(), latest(), discardLogger()); err != nil {
						t.Fatal(err)
					}
					var enc string
					err = db.QueryRow(`SELECT value FROM properties WHERE name = $1`, PropEncryptionKeystore).Scan(&enc)
					if err != nil && !errors.Is(err, sql.ErrNoRows) {
						t.Fatal(err)
					}
					if enc != tt.wantEncryption {
						t.Errorf("encryption property = %q, want %q", enc, tt.wantEncryption)
					}
					var n int
					if err := db.QueryRow(`SELECT count(*) FROM audit WHERE action = $1`, ActionPropertyCopy).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != tt.wantCopies {
						t.Errorf("%d copy audit entries, want %d", n, tt.wantCopies)
					}
				})
			}
		})
	}
}

func copies(t *testing.T, s *Store) []AuditEntry {
	t.Helper()
	all, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []AuditEntry
	for _, e := range all {
		if e.Action == ActionPropertyCopy {
			out = append(out, e)
		}
	}
	return out
}

func assertProp(t *testing.T, s *Store, name, want string) {
	t.Helper()
	v, ok, err := s.Property(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if v != want || ok != (want != "") {
		t.Errorf("property %s = %q (set %v), want %q", name, v, ok, want)
	}
}
