// Package store owns the persistence of samlkeyd: certificate records (with
// their keystore passwords sealed at rest under a master key), system
// properties, the audit log, the change counter the daemon polls and the
// lock that lets one replica run a job. Its schema is versioned with
// migrations, including the release upgrade that copies the signing keystore
// property into the encryption one. It runs on SQLite (embedded, pure Go) by
// default and on PostgreSQL when several replicas share one store. It uses
// the keys package to validate what it stores; it never parses keystores
// itself.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// The two system properties that select the SP's keystores. Each holds the
// id of a certificate record.
const (
	PropSigningKeystore    = "glide.authenticate.sso.saml2.keystore"
	PropEncryptionKeystore = "glide.authenticate.sso.saml2.encryption.keystore"
)

// Errors callers branch on. They are wrapped with the id or name concerned.
var (
	ErrNotFound        = errors.New("not found")
	ErrExists          = errors.New("already exists")
	ErrInvalid         = errors.New("invalid")
	ErrInUse           = errors.New("in use by a property")
	ErrWrongMasterKey  = errors.New("cannot unseal keystore passwords: wrong master key?")
	ErrUnsafeMasterKey = errors.New("master key file is readable by group or others")
	// ErrNoStore is returned by Open with Options.MustExist for a store
	// that does not exist, wrapped with where it was looked for.
	ErrNoStore = errors.New("no samlkeyd store")
)

// Options say where the store lives and what it is opened with.
type Options struct {
	// DataDir holds the SQLite database (samlkeyd.db) and, unless a master
	// key is given, the master key file (master.key). Default ./samlkeyd-data.
	DataDir string
	// DatabaseURL, when set (postgres://…), selects PostgreSQL instead of
	// SQLite.
	DatabaseURL string
	// MasterKey is the 32-byte key that seals passwords, encoded as base64
	// or 64 hex digits (as SAMLKEYD_MASTER_KEY carries it). It wins over
	// MasterKeyFile.
	MasterKey secret.Value
	// MasterKeyFile holds the master key encoded as MasterKey is. It must not
	// be readable by group or others. Default <DataDir>/master.key, created
	// on first start.
	MasterKeyFile string
	// MustExist makes Open refuse a store that does not exist yet with
	// ErrNoStore instead of creating it: for SQLite, no database file in
	// DataDir; for PostgreSQL, no samlkeyd schema in the database. Only
	// `samlkeyd init` and `serve` create stores; every other command sets it.
	MustExist bool
	// NoBaseKeystores skips creating the base system keystores on first
	// start (tests that do not need them).
	NoBaseKeystores bool
	// Timeout bounds every store call (config store_timeout): each runs
	// under context.WithTimeout(ctx, Timeout), so a caller's sooner
	// deadline still wins. 0 means DefaultTimeout.
	Timeout time.Duration
	// OnError, when set, is called once for every store call that failed
	// for a reason other than the caller's input or the caller's own
	// cancellation, with the call's stable op name (the method name in
	// snake_case: "change_counter", "record_replay", "open", …). The daemon
	// counts samlkeyd_store_errors_total{op} with it. It must be fast and
	// safe for concurrent use.
	OnError func(op string, err error)
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now
	Rand    io.Reader        // nil: crypto/rand
}

// DefaultTimeout is the deadline of a store call when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// DefaultDataDir is where the SQLite store lives when no directory is given.
const DefaultDataDir = "./samlkeyd-data"

// Store is an open store. It is safe for concurrent use, also by several
// processes (SQLite) or replicas (PostgreSQL) sharing the same database.
type Store struct {
	db     *sql.DB
	d      dialect
	master secret.Value
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader

	timeout time.Duration
	onError func(op string, err error)

	created bool // this Open made the schema

	mu      sync.Mutex           // guards locks and touched
	locks   map[string]bool      // SQLite: names of locks held by this process
	touched map[string]time.Time // token name → last use written by TouchToken
}

// Open opens the store described by o, applies pending migrations, checks
// the master key, completes what migrations leave to the master key (the
// public facts of records stored before they existed, sealing PEM private
// keys stored in clear), and on first start creates the base system
// keystores. Each database step runs under Options.Timeout; key generation
// does not. A database that cannot be reached fails with ErrUnavailable:
// retry later.
func Open(ctx context.Context, o Options) (_ *Store, err error) {
	s := &Store{log: o.Logger, now: o.Now, rand: o.Rand, timeout: o.Timeout, onError: o.OnError,
		locks: map[string]bool{}, touched: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	defer func() {
		if err != nil {
			err = s.fail(ctx, "open", err)
		}
	}()
	if err := s.open(ctx, o); err != nil {
		if s.db != nil {
			_ = s.db.Close()
		}
		return nil, err
	}
	return s, nil
}

// open runs the steps of Open, each database step under the deadline.
func (s *Store) open(ctx context.Context, o Options) error {
	step := func(fn func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		return fn(ctx)
	}
	if o.MustExist && o.DatabaseURL == "" {
		if _, err := os.Stat(filepath.Join(o.dataDir(), sqliteFile)); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w at %s", ErrNoStore, o.where())
		}
	}
	err := step(func(ctx context.Context) (err error) {
		s.db, s.d, err = openDB(ctx, o)
		return err
	})
	if err != nil {
		return err
	}
	if o.MustExist {
		if err := step(func(ctx context.Context) error { return s.checkExists(ctx, o) }); err != nil {
			return err
		}
	}
	// The master key before the schema: a PostgreSQL store opened without
	// the replicas' key is refused before anything is written to it.
	if s.master, err = loadMasterKey(o, s.rand); err != nil {
		return err
	}
	if err := step(func(ctx context.Context) error {
		applied, err := migrate(ctx, s.db, s.d, s.now(), latest(), s.log)
		s.created = len(applied) > 0 && applied[0].Version == 1
		return err
	}); err != nil {
		return err
	}
	if err := step(s.checkMasterKey); err != nil {
		return err
	}
	if err := s.completeRecords(ctx); err != nil {
		return err
	}
	if o.NoBaseKeystores {
		return nil
	}
	return s.ensureBaseKeystores(ctx)
}

// Close closes the database.
func (s *Store) Close() error {
	s.master.Zero()
	return s.db.Close()
}

// checkExists fails with ErrNoStore when the open database holds no
// samlkeyd schema (an empty SQLite file, a PostgreSQL database or schema
// never initialised).
func (s *Store) checkExists(ctx context.Context, o Options) error {
	ok, err := s.d.tableExists(ctx, s.db, "schema_migrations")
	if err != nil {
		return fmt.Errorf("open store %s: %w", o.Location(), err)
	}
	if !ok {
		return fmt.Errorf("%w at %s", ErrNoStore, o.where())
	}
	return nil
}

// Created reports whether this Open created the store: it found no schema
// and made it (with the base keystores, unless NoBaseKeystores).
func (s *Store) Created() bool { return s.created }

// Backend names the database the store runs on: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// ChangeCounter returns a number that grows on every record or property
// change. It is one indexed read, cheap enough to poll.
func (s *Store) ChangeCounter(ctx context.Context) (_ int64, err error) {
	ctx, done := s.call(ctx, "change_counter")
	defer done(&err)
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT counter FROM changes WHERE id = 1`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read change counter: %w", err)
	}
	return n, nil
}

// tx runs fn in a write transaction: IMMEDIATE on SQLite (writers queue on
// the database lock), READ COMMITTED with row locks on PostgreSQL. A failed
// fn rolls everything back.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// bump increments the change counter inside tx.
func bump(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE changes SET counter = counter + 1 WHERE id = 1`)
	return err
}

// timeFormat is how times are stored: fixed width, so text order is time
// order.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(timeFormat, s)
}
