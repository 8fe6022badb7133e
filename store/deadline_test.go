package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	url, pids := throwawayCluster(t)
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

	signalAll(t, pids(), syscall.SIGSTOP)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			signalAll(t, pids(), syscall.SIGCONT)
		}
	})
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

	signalAll(t, pids(), syscall.SIGCONT)
	stopped = false
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

// throwawayCluster starts a PostgreSQL cluster of the test's own on a free
// loopback port (as .ci/run does, as the postgres user when run as root),
// stops it when the test ends, and returns its URL and a function listing
// the postmaster's and its children's process ids.
func throwawayCluster(t *testing.T) (string, func() []int) {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if tooltest.Required() {
			t.Fatal("SAMLKEYD_REQUIRE_TOOLS=1: PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (Debian: postgresql)")
		}
		t.Skip("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (Debian: postgresql)")
	}
	sort.Strings(bins)
	bin := filepath.Dir(bins[len(bins)-1])
	dir, err := os.MkdirTemp("", "samlkeyd-pgstop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	asPostgres := os.Geteuid() == 0
	if asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(cmd string) {
		t.Helper()
		c := exec.Command("/bin/sh", "-c", cmd)
		if asPostgres {
			c = exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd)
		}
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	data := filepath.Join(dir, "data")
	run(fmt.Sprintf("%s/initdb -D %s -A trust -U postgres >/dev/null", bin, data))
	run(fmt.Sprintf("%s/pg_ctl -D %s -l %s/log -w -o '-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off' start >/dev/null", bin, data, dir, dir, port))
	t.Cleanup(func() { run(fmt.Sprintf("%s/pg_ctl -D %s -m immediate stop >/dev/null", bin, data)) })
	pids := func() []int {
		b, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
		if err != nil {
			t.Fatal(err)
		}
		pm, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
		if err != nil {
			t.Fatal(err)
		}
		return append([]int{pm}, childrenOf(pm)...)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), pids
}

// childrenOf returns the ids of the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces: split after ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, id)
		}
	}
	return out
}

func signalAll(t *testing.T, pids []int, sig syscall.Signal) {
	t.Helper()
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kill -%v %d: %v", sig, p, err)
		}
	}
}
