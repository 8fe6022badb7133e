package store

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/secret"
)

// The sentinel passwords of the fixtures (testdata/gen.sh): they must never
// appear in clear in a database, a log, an error, a dump or JSON.
const (
	sentinelStorePass = "Sentinel-Store-Pw-7q"
	sentinelKeyPass   = "Sentinel-Key-Pw-3z"
)

// testMasterKey is a fixed master key for tests (64 hex digits).
var testMasterKey = secret.FromString(strings.Repeat("42", 32))

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// backend is one database the suite runs on.
type backend struct {
	name string
	// options returns Options for a fresh, empty store of this backend.
	options func(t *testing.T) Options
}

// backends returns SQLite and PostgreSQL. The PostgreSQL half skips (or
// fails under SAMLKEYD_REQUIRE_TOOLS=1) without SAMLKEYD_TEST_DATABASE_URL.
func backends() []backend {
	return []backend{
		{"sqlite", func(t *testing.T) Options {
			return Options{DataDir: filepath.Join(t.TempDir(), "data"), MasterKey: testMasterKey}
		}},
		{"postgres", func(t *testing.T) Options {
			return Options{DatabaseURL: pgSchemaURL(t), MasterKey: testMasterKey}
		}},
	}
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, o Options)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.options(t)) })
	}
}

// pgSchemaURL is a PostgreSQL URL on a schema of the test's own.
func pgSchemaURL(t testing.TB) string {
	u, _ := tooltest.PostgresSchema(t)
	return u
}

// benchOptions returns Options for a fresh, empty store of the named
// backend, without base keystores.
func benchOptions(b *testing.B, backend string) Options {
	b.Helper()
	if backend == "postgres" {
		return Options{DatabaseURL: pgSchemaURL(b), MasterKey: testMasterKey, NoBaseKeystores: true}
	}
	return Options{DataDir: filepath.Join(b.TempDir(), "data"), MasterKey: testMasterKey, NoBaseKeystores: true}
}

func open(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fixedClock is a clock tests move by hand.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for a logger used by several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// assertNoSentinel fails when s holds a sentinel password.
func assertNoSentinel(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range []string{sentinelStorePass, sentinelKeyPass} {
		if strings.Contains(s, p) {
			t.Errorf("%s contains the password %q in clear", what, p)
		}
	}
}

var writeV1Fixture = flag.Bool("write-v1-fixture", false, "write testdata/v1.db (testdata/gen.sh runs this)")

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
