package tooltest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make a schema per test
)

// PostgresSchema creates a schema of the test's own in the test database
// (DatabaseURL; the test skips, or fails under SAMLKEYD_REQUIRE_TOOLS=1,
// without one) and returns a URL whose connections use it, and the
// schema's name, so tests never collide. The schema is dropped when the
// test ends.
func PostgresSchema(t testing.TB) (dbURL, schema string) {
	t.Helper()
	base := DatabaseURL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() { _, _ = db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`) })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}
