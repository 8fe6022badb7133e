package tooltest

import (
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
	"syscall"
	"testing"
)

// PostgresCluster is a PostgreSQL cluster of one test's own, on a free
// loopback port, owned by the postgres user when the test runs as root (as
// .ci/run starts its cluster). Tests may stop, hang (SIGSTOP) and restart
// it; they never do that to the shared cluster SAMLKEYD_TEST_DATABASE_URL
// names.
type PostgresCluster struct {
	URL string // postgres://postgres@127.0.0.1:<port>/postgres?sslmode=disable

	t       testing.TB
	bin     string
	dir     string
	port    int
	asUser  bool
	stopped bool // SIGSTOPped
}

// NewPostgresCluster initialises and starts a cluster, stopped (and resumed
// first, if hung) when the test ends. It skips (fails when required) when
// the server binaries are missing (/usr/lib/postgresql/*/bin; Debian:
// postgresql).
func NewPostgresCluster(t testing.TB) *PostgresCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		missing(t, "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin (Debian: postgresql)")
	}
	sort.Strings(bins)
	c := &PostgresCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), asUser: os.Geteuid() == 0}
	dir, err := os.MkdirTemp("", "samlkeyd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if c.asUser {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "running as root without a postgres user: "+err.Error())
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	c.run(fmt.Sprintf("%s/initdb -D %s -A trust -U postgres >/dev/null", c.bin, c.data()))
	c.Start()
	t.Cleanup(func() {
		if c.stopped {
			c.signal(syscall.SIGCONT)
		}
		_ = c.ctl("-m immediate stop")
	})
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	return c
}

func (c *PostgresCluster) data() string { return filepath.Join(c.dir, "data") }

// Start starts the (stopped) server and waits until it accepts connections.
func (c *PostgresCluster) Start() {
	c.t.Helper()
	if err := c.ctl(fmt.Sprintf("-l %s/log -w -o '-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off' start", c.dir, c.dir, c.port)); err != nil {
		c.t.Fatal(err)
	}
}

// Shutdown stops the server (fast shutdown: connections are closed).
func (c *PostgresCluster) Shutdown() {
	c.t.Helper()
	if err := c.ctl("-m fast stop"); err != nil {
		c.t.Fatal(err)
	}
}

// Hang stops (SIGSTOP) the postmaster and every backend: connections stay
// open and nothing answers, as with a hung host.
func (c *PostgresCluster) Hang() { c.t.Helper(); c.signal(syscall.SIGSTOP); c.stopped = true }

// Resume resumes (SIGCONT) a hung server.
func (c *PostgresCluster) Resume() { c.t.Helper(); c.signal(syscall.SIGCONT); c.stopped = false }

func (c *PostgresCluster) ctl(args string) error {
	cmd := fmt.Sprintf("%s/pg_ctl -D %s %s >/dev/null", c.bin, c.data(), args)
	if out, err := c.command(cmd).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	return nil
}

func (c *PostgresCluster) run(cmd string) {
	c.t.Helper()
	if out, err := c.command(cmd).CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

func (c *PostgresCluster) command(cmd string) *exec.Cmd {
	if c.asUser {
		return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd)
	}
	return exec.Command("/bin/sh", "-c", cmd)
}

// signal sends sig to the postmaster and its children.
func (c *PostgresCluster) signal(sig syscall.Signal) {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data(), "postmaster.pid"))
	if err != nil {
		c.t.Fatal(err)
	}
	pm, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range append([]int{pm}, childrenOf(pm)...) {
		if err := syscall.Kill(p, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			c.t.Errorf("kill -%v %d: %v", sig, p, err)
		}
	}
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
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, id)
		}
	}
	return out
}
