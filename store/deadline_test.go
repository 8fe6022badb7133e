package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// opLog records OnError calls.
type opLog struct {
	mu  sync.Mutex
	ops []string
}

func (l *opLog) add(op string, _ error) { l.mu.Lock(); l.ops = append(l.ops, op); l.mu.Unlock() }
func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ops
	l.ops = nil
	return out
}

// TestStoreErrorsReported: a call cut off by the store's deadline fails
// with ErrUnavailable and context.DeadlineExceeded and is reported to
// OnError under its op name; refused input and the caller's own
// cancellation are not store errors.
func TestStoreErrorsReported(t *testing.T) {
	forEachBackend(t, func(t *testing.T, o Options) {
		ops := &opLog{}
		o.NoBaseKeystores, o.OnError = true, ops.add
		s := open(t, o)
		ctx := context.Background()
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		s.timeout = time.Nanosecond
		_, err := s.ChangeCounter(ctx)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ChangeCounter past its deadline = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
		if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Ping past its deadline = %v, want ErrUnavailable", err)
		}
		if got := ops.take(); strings.Join(got, ",") != "change_counter,ping" {
			t.Errorf("OnError ops = %q, want change_counter,ping", got)
		}
		s.timeout = DefaultTimeout
		if _, err := s.Record(ctx, strings.Repeat("0", 32)); !errors.Is(err, ErrNotFound) {
			t.Fatal(err)
		}
		if _, err := s.CreateToken(ctx, "t", NewToken{Name: "x"}, nil); !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Records(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Records with a cancelled context = %v", err)
		}
		if got := ops.take(); len(got) != 0 {
			t.Errorf("refused input or the caller's cancellation reported as store errors: %q", got)
		}
	})
}

// TestStoreTimeoutLockedSQLite: a write waiting on another process's write
// lock gives up at the store's deadline, not after SQLite's busy timeout.
func TestStoreTimeoutLockedSQLite(t *testing.T) {
	const timeout = 300 * time.Millisecond
	o := Options{DataDir: filepath.Join(t.TempDir(), "data"), MasterKey: testMasterKey, NoBaseKeystores: true}
	s := open(t, o) // migrations under -race on a busy machine may take longer than timeout
	s.timeout = timeout
	other, err := sql.Open("sqlite", sqliteDSN(filepath.Join(o.DataDir, sqliteFile), false))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin() // IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	start := time.Now()
	err = s.SetProperty(context.Background(), "t", "samlkeyd.x", "1")
	if took := time.Since(start); !errors.Is(err, ErrUnavailable) || took > timeout+500*time.Millisecond {
		t.Errorf("write under another writer's lock = %v after %v, want ErrUnavailable within %v", err, took, timeout)
	}
	if _, err := s.ChangeCounter(context.Background()); err != nil {
		t.Errorf("a read beside the writer (WAL) = %v", err)
	}
}

// TestStoreTimeoutStoppedPostgres stops (SIGSTOP) a PostgreSQL cluster of
// its own: every call returns within the deadline and a little, says the
// store is unavailable and is reported; a replica opening meanwhile fails
// as fast; after SIGCONT the same store works again. It never touches the
// cluster SAMLKEYD_TEST_DATABASE_URL names.
func TestStoreTimeoutStoppedPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	pg := tooltest.NewPostgresCluster(t) // resumed and stopped when the test ends
	url := pg.URL
	const timeout = time.Second
	const slack = 750 * time.Millisecond
	ops := &opLog{}
	o := Options{DatabaseURL: url, MasterKey: testMasterKey, NoBaseKeystores: true, OnError: ops.add}
	s := open(t, o) // migrations under -race on a busy machine may take longer than timeout
	s.timeout, o.Timeout = timeout, timeout
	ctx := context.Background()
	now := time.Now()
	if _, err := s.RecordReplay(ctx, "before", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}

	pg.Hang()
	calls := []struct {
		op string
		fn func(ctx context.Context) error
	}{
		{"ping", s.Ping},
		{"change_counter", func(ctx context.Context) error { _, err := s.ChangeCounter(ctx); return err }},
		{"record_replay", func(ctx context.Context) error {
			_, err := s.RecordReplay(ctx, "during", now.Add(time.Hour), now)
			return err
		}},
		{"record_facts", func(ctx context.Context) error { _, err := s.RecordFacts(ctx); return err }},
		{"set_property", func(ctx context.Context) error { return s.SetProperty(ctx, "t", "samlkeyd.x", "1") }},
		{"with_lock", func(ctx context.Context) error {
			_, err := s.WithLock(ctx, "job", func(context.Context) error { return nil })
			return err
		}},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.fn(ctx)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s on a stopped PostgreSQL = %v, want ErrUnavailable and DeadlineExceeded", c.op, err)
		}
		if took > timeout+slack {
			t.Errorf("%s on a stopped PostgreSQL took %v, want at most %v", c.op, took, timeout+slack)
		}
		t.Logf("%s: %v in %v", c.op, err, took.Round(time.Millisecond))
	}
	start := time.Now()
	if _, err := Open(ctx, o); !errors.Is(err, ErrUnavailable) || time.Since(start) > timeout+slack {
		t.Errorf("Open on a stopped PostgreSQL = %v after %v, want ErrUnavailable within %v", err, time.Since(start), timeout+slack)
	}
	if got, want := ops.take(), []string{"ping", "change_counter", "record_replay", "record_facts", "set_property", "with_lock", "open"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("OnError ops = %q, want %q", got, want)
	}

	pg.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store still failing 10 s after SIGCONT")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if seen, err := s.RecordReplay(ctx, "before", now.Add(time.Hour), now); err != nil || !seen {
		t.Errorf("after SIGCONT: RecordReplay of an id stored before = %v, %v; want seen", seen, err)
	}
	if err := s.SetProperty(ctx, "t", "samlkeyd.x", "2"); err != nil {
		t.Errorf("after SIGCONT: %v", err)
	}
}
