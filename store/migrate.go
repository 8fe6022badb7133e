package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Migration is one schema version.
type Migration struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
}

type migration struct {
	Migration
	up func(ctx context.Context, tx *sql.Tx, d dialect, now time.Time) error
}

// migrations returns the migrations, applied in order; a store records the
// versions it has. A released migration is never edited: change the schema
// with a new one.
func migrations() []migration {
	return []migration{
		{Migration{1, "certificate records, properties, audit log, change counter"}, migrateV1},
		{Migration{2, "encryption keystore property: copy the signing keystore into it once"}, migrateV2},
		{Migration{3, "check results"}, migrateV3},
		{Migration{4, "alert ledger: each alert sent once across restarts and replicas"}, migrateV4},
		{Migration{5, "key rotation states"}, migrateV5},
		{Migration{6, "metadata fetches by IdP"}, migrateV6},
		{Migration{7, "record public facts: certificate chain, SHA-1 fingerprint, subject, issuer, serial, version"}, migrateV7},
		{Migration{8, "record data sealing: PEM private keys in clear are sealed when the store is next opened"}, migrateV8},
		{Migration{9, "replay ids: accepted message ids shared by replicas"}, migrateV9},
		{Migration{10, "API tokens"}, migrateV10},
		{Migration{11, "rotation: a next key's publish mode and whether it was generated or brought"}, migrateV11},
	}
}

// latest is the newest schema version.
func latest() int { return len(migrations()) }

// Migrations returns every schema version this build knows, in order.
func Migrations() []Migration {
	ms := migrations()
	out := make([]Migration, len(ms))
	for i, m := range ms {
		out[i] = m.Migration
	}
	return out
}

// v1Schema is the first schema: the release that had only the signing
// keystore property.
func v1Schema() []string {
	return []string{
		`CREATE TABLE changes (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		counter BIGINT NOT NULL
	)`,
		`INSERT INTO changes (id, counter) VALUES (1, 0)`,
		`CREATE TABLE meta (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
		`CREATE TABLE records (
		id                 TEXT PRIMARY KEY,
		name               TEXT NOT NULL UNIQUE,
		type               TEXT NOT NULL,
		format             TEXT NOT NULL,
		active             BOOLEAN NOT NULL,
		data               {{blob}} NOT NULL,
		alias              TEXT NOT NULL,
		store_password     {{blob}} NOT NULL,
		key_password       {{blob}} NOT NULL,
		not_after          TEXT NOT NULL,
		fingerprint_sha256 TEXT NOT NULL,
		created            TEXT NOT NULL,
		updated            TEXT NOT NULL
	)`,
		`CREATE TABLE properties (
		name    TEXT PRIMARY KEY,
		value   TEXT NOT NULL,
		updated TEXT NOT NULL
	)`,
		`CREATE TABLE audit (
		id     {{serial}},
		at     TEXT NOT NULL,
		actor  TEXT NOT NULL,
		action TEXT NOT NULL,
		object TEXT NOT NULL,
		old_value TEXT NOT NULL,
		new_value TEXT NOT NULL
	)`,
	}
}

func migrateV1(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	for _, q := range v1Schema() {
		if _, err := tx.ExecContext(ctx, d.sql(q)); err != nil {
			return err
		}
	}
	return nil
}

// migrateV2 is the release upgrade that introduced the encryption keystore
// property: a store that selected one keystore for both uses keeps doing so,
// because the signing property's value is copied into the encryption
// property when that is unset. It runs once per store; afterwards the two
// properties are independent.
func migrateV2(ctx context.Context, tx *sql.Tx, _ dialect, now time.Time) error {
	var signing string
	err := tx.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`, PropSigningKeystore).Scan(&signing)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && signing == "") {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx,
		`INSERT INTO properties (name, value, updated) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		PropEncryptionKeystore, signing, fmtTime(now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // already set: leave it alone
	}
	if err := writeAudit(ctx, tx, now, actorMigration, ActionPropertyCopy, PropEncryptionKeystore, "", signing); err != nil {
		return err
	}
	return bump(ctx, tx)
}

// actorMigration is the audit actor of changes migrations make.
const actorMigration = "migration"

// migrationLockKey is the PostgreSQL advisory lock that serialises replicas
// migrating the same database.
const migrationLockKey = 0x73616d6c6b657964 // "samlkeyd"

// migrate applies the migrations up to version target in one transaction
// and returns the ones it applied. Replicas starting together queue on a
// lock (SQLite: the database write lock; PostgreSQL: an advisory lock).
func migrate(ctx context.Context, db *sql.DB, d dialect, now time.Time, target int, log *slog.Logger) ([]Migration, error) {
	var applied []Migration
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if d.name == "postgres" {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockKey)); err != nil {
			return nil, fmt.Errorf("migrate store: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name    TEXT NOT NULL,
		applied TEXT NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	have, err := appliedVersions(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	if v := maxVersion(have); v > latest() {
		return nil, fmt.Errorf("migrate store: schema version %d is newer than this samlkeyd knows (%d): upgrade samlkeyd", v, latest())
	}
	for _, m := range migrations() {
		if m.Version > target || have[m.Version] {
			continue
		}
		if err := m.up(ctx, tx, d, now); err != nil {
			return nil, fmt.Errorf("migrate store to version %d (%s): %w", m.Version, m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied) VALUES ($1, $2, $3)`,
			m.Version, m.Name, fmtTime(now)); err != nil {
			return nil, fmt.Errorf("migrate store to version %d: %w", m.Version, err)
		}
		applied = append(applied, m.Migration)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	for _, m := range applied {
		log.Info("store migrated", "version", m.Version, "migration", m.Name)
	}
	return applied, nil
}

func appliedVersions(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		have[v] = true
	}
	return have, rows.Err()
}

func maxVersion(have map[int]bool) int {
	m := 0
	for v := range have {
		m = max(m, v)
	}
	return m
}

// Migrate brings the store o names to the newest schema and returns the
// migrations it applied. With dryRun it only returns the pending ones and
// changes nothing (a SQLite store that does not exist yet is not created).
// It needs no master key and creates no keystores: Open does that. It runs
// under Options.Timeout.
func Migrate(ctx context.Context, o Options, dryRun bool) ([]Migration, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !dryRun {
		db, d, err := openDB(ctx, o)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		return migrate(ctx, db, d, now(), latest(), log)
	}
	var db *sql.DB
	var err error
	var d dialect
	if o.DatabaseURL != "" {
		if db, d, err = openDB(ctx, o); err != nil {
			return nil, err
		}
	} else {
		path := filepath.Join(o.dataDir(), sqliteFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return Migrations(), nil
		}
		if db, err = sql.Open("sqlite", sqliteDSN(path, true)); err != nil {
			return nil, fmt.Errorf("open store %q: %w", path, err)
		}
		d = sqliteDialect()
	}
	defer db.Close()
	exists, err := d.tableExists(ctx, db, "schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate store (dry run): %w", err)
	}
	have := map[int]bool{}
	if exists {
		if have, err = appliedVersions(ctx, db); err != nil {
			return nil, fmt.Errorf("migrate store (dry run): %w", err)
		}
	}
	var pending []Migration
	for _, m := range migrations() {
		if !have[m.Version] {
			pending = append(pending, m.Migration)
		}
	}
	return pending, nil
}

// tableExists reports whether the named table exists in the store's schema.
func (d dialect) tableExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var ok bool
	var err error
	if d.name == "postgres" {
		err = db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok)
	} else {
		var n int
		err = db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, name).Scan(&n)
		ok = n > 0
	}
	return ok, err
}
