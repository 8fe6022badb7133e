package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

// dialect holds what differs between SQLite and PostgreSQL. Queries use $N
// placeholders, which both understand.
type dialect struct {
	name      string // "sqlite" or "postgres"
	blob      string // column type of bytes
	serial    string // auto-increment primary key column
	forUpdate string // row-lock suffix of a SELECT inside a write transaction
}

func sqliteDialect() dialect {
	return dialect{name: "sqlite", blob: "BLOB", serial: "INTEGER PRIMARY KEY AUTOINCREMENT"}
}

func postgresDialect() dialect {
	return dialect{name: "postgres", blob: "BYTEA", serial: "BIGSERIAL PRIMARY KEY", forUpdate: " FOR UPDATE"}
}

// sql expands {{blob}} and {{serial}} in a schema statement.
func (d dialect) sql(q string) string {
	return strings.NewReplacer("{{blob}}", d.blob, "{{serial}}", d.serial).Replace(q)
}

// sqliteFile is the database file name inside the data directory.
const sqliteFile = "samlkeyd.db"

// dataDir returns o.DataDir or the default.
func (o Options) dataDir() string {
	if o.DataDir == "" {
		return DefaultDataDir
	}
	return o.DataDir
}

// Location names the store o describes for people, never with a password:
// the SQLite data directory as an absolute path, or "PostgreSQL host:port
// database" (with the search_path schema when the URL sets one).
func (o Options) Location() string {
	if o.DatabaseURL == "" {
		dir := o.dataDir()
		if abs, err := filepath.Abs(dir); err == nil {
			dir = abs
		}
		return dir + " (SQLite)"
	}
	u, err := url.Parse(o.DatabaseURL)
	if err != nil || u.Host == "" && u.Path == "" {
		return "PostgreSQL " + redactURL(o.DatabaseURL)
	}
	loc := "PostgreSQL " + u.Host
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		loc += " database " + db
	}
	if sp := u.Query().Get("search_path"); sp != "" {
		loc += " schema " + sp
	}
	return loc
}

// MasterKeyPath is the file the master key is read from (and, for a new
// SQLite store, written to): MasterKeyFile, else <DataDir>/master.key; ""
// when MasterKey is given.
func (o Options) MasterKeyPath() string {
	switch {
	case !o.MasterKey.Empty():
		return ""
	case o.MasterKeyFile != "":
		return o.MasterKeyFile
	}
	return filepath.Join(o.dataDir(), masterKeyFile)
}

// where names the store as ErrNoStore does: the data directory as given,
// or the PostgreSQL location.
func (o Options) where() string {
	if o.DatabaseURL == "" {
		return o.dataDir()
	}
	return o.Location()
}

// Exists reports whether the store o names exists, as Options.MustExist
// decides, without creating or changing anything. It runs under
// Options.Timeout.
func Exists(ctx context.Context, o Options) (bool, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var db *sql.DB
	d := sqliteDialect()
	if o.DatabaseURL != "" {
		var err error
		if db, d, err = openDB(ctx, o); err != nil {
			return false, err
		}
	} else {
		path := filepath.Join(o.dataDir(), sqliteFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		var err error
		if db, err = sql.Open("sqlite", sqliteDSN(path, true)); err != nil {
			return false, fmt.Errorf("open store %q: %w", path, err)
		}
	}
	defer db.Close()
	ok, err := d.tableExists(ctx, db, "schema_migrations")
	if err != nil {
		return false, fmt.Errorf("open store %s: %w", o.Location(), err)
	}
	return ok, nil
}

// openDB opens the database o names: PostgreSQL for a DatabaseURL, else the
// SQLite file in the data directory (created 0600 in a 0700 directory).
func openDB(ctx context.Context, o Options) (*sql.DB, dialect, error) {
	if o.DatabaseURL != "" {
		db, err := sql.Open("pgx", o.DatabaseURL)
		if err != nil {
			return nil, dialect{}, fmt.Errorf("open store %s: %w", redactURL(o.DatabaseURL), err)
		}
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close()
			return nil, dialect{}, fmt.Errorf("open store %s: %w", redactURL(o.DatabaseURL), err)
		}
		return db, postgresDialect(), nil
	}
	dir := o.dataDir()
	if err := makePrivateDir(dir); err != nil {
		return nil, dialect{}, err
	}
	path := filepath.Join(dir, sqliteFile)
	if err := touchPrivate(path); err != nil {
		return nil, dialect{}, err
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, dialect{}, fmt.Errorf("open store %q: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, dialect{}, fmt.Errorf("open store %q: %w", path, err)
	}
	return db, sqliteDialect(), nil
}

// sqliteDSN returns the modernc.org/sqlite DSN for path: write transactions
// take the database lock at BEGIN (no lost updates between processes),
// waiting up to 10 s for another writer; WAL lets readers run beside them;
// secure_delete zeroes what is deleted.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_txlock", "immediate")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "1")
	// Deleted and overwritten content (a record's sealed-over key, a
	// deleted record) is zeroed in the file, not left in free space.
	q.Add("_pragma", "secure_delete(1)")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Set("_journal_mode", "WAL")
	}
	return "file:" + path + "?" + q.Encode()
}

// makePrivateDir creates dir with mode 0700, or tightens an existing one to
// 0700, whatever the umask.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %q: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("create data directory %q: %w", dir, err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %q: make it 0700: %w", dir, err)
		}
	}
	return nil
}

// touchPrivate creates path with mode 0600 if it does not exist, or
// tightens an existing one to 0600, so SQLite (which gives its -wal and -shm
// files the database's mode) never creates it under the process umask.
func touchPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		fi, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("open store %q: %w", path, err)
		}
		if fi.Mode().Perm() != 0o600 {
			if err := os.Chmod(path, 0o600); err != nil {
				return fmt.Errorf("store %q: make it 0600: %w", path, err)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("create store %q: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil { // the umask may have removed bits, never added: make it exact
		_ = f.Close()
		return fmt.Errorf("create store %q: %w", path, err)
	}
	return f.Close()
}

// redactURL drops the password from a database URL for errors and logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<database url>"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
