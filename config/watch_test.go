package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// watchHarness runs Watch on a file and publishes each config OnChange
// delivers through an atomic pointer, as the daemon does, while readers
// check it concurrently.
type watchHarness struct {
	t       *testing.T
	dir     string
	file    string // the path given to Watch
	changes chan *Config
	errs    chan error
	current atomic.Pointer[Config]
}

const waitLimit = 10 * time.Second // a failure guard, never a way to pass time

func configYAML(port int) []byte {
	return fmt.Appendf(nil, "listen: 127.0.0.1:%d\n", port)
}

func startWatch(t *testing.T, dir, file string, pollOnly bool) *watchHarness {
	t.Helper()
	h := &watchHarness{t: t, dir: dir, file: file, changes: make(chan *Config, 16), errs: make(chan error, 16)}
	first, err := Load(LoadOptions{File: file, Env: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	h.current.Store(first)
	interval := time.Duration(-1) // fsnotify alone must see every case
	if pollOnly {
		interval = 20 * time.Millisecond // polling alone must see every case
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	ready := make(chan struct{})
	go func() {
		defer wg.Done()
		err := Watch(ctx, WatchOptions{
			File:     file,
			Interval: interval,
			Debounce: 20 * time.Millisecond,
			Load: func() (*Config, error) {
				return Load(LoadOptions{File: file, Env: func(string) (string, bool) { return "", false }})
			},
			OnChange: func(c *Config) { h.current.Store(c); h.changes <- c },
			OnError:  func(err error) { h.errs <- err },
			Ready:    func() { close(ready) },
			pollOnly: pollOnly,
		})
		if err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	}()
	// Readers: every read sees a whole, valid config, never nil.
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := h.current.Load()
				if c == nil || !strings.HasPrefix(c.Listen, "127.0.0.1:") || c.SP.EntityID == "" {
					t.Errorf("a reader saw %+v", c)
					return
				}
			}
		}()
	}
	t.Cleanup(func() { close(stop); cancel(); wg.Wait() })
	select {
	case <-ready:
	case <-time.After(waitLimit):
		t.Fatal("Watch did not become ready")
	}
	return h
}

// expectChange waits for OnChange to deliver listen port, tolerating the
// errors allowed (a transient state such as an empty file mid-write).
func (h *watchHarness) expectChange(port int, allowed ...error) {
	h.t.Helper()
	want := fmt.Sprintf("127.0.0.1:%d", port)
	timeout := time.After(waitLimit)
	for {
		select {
		case c := <-h.changes:
			if c.Listen != want {
				h.t.Fatalf("OnChange delivered listen %s, want %s", c.Listen, want)
			}
			if got := h.current.Load().Listen; got != want {
				h.t.Fatalf("readers see %s after OnChange, want %s", got, want)
			}
			return
		case err := <-h.errs:
			ok := false
			for _, a := range allowed {
				ok = ok || errors.Is(err, a)
			}
			if !ok {
				h.t.Fatalf("OnError(%v) while waiting for a change to %s", err, want)
			}
		case <-timeout:
			h.t.Fatalf("no OnChange to %s within %s", want, waitLimit)
		}
	}
}

// expectError waits for OnError with an error containing substr, and
// checks the readers still see the last good config.
func (h *watchHarness) expectError(substr string, lastGood int) {
	h.t.Helper()
	select {
	case err := <-h.errs:
		if !strings.Contains(err.Error(), substr) {
			h.t.Fatalf("OnError(%v), want an error containing %q", err, substr)
		}
	case c := <-h.changes:
		h.t.Fatalf("OnChange(listen %s), want OnError containing %q", c.Listen, substr)
	case <-time.After(waitLimit):
		h.t.Fatalf("no OnError containing %q within %s", substr, waitLimit)
	}
	if got, want := h.current.Load().Listen, fmt.Sprintf("127.0.0.1:%d", lastGood); got != want {
		h.t.Fatalf("after a rejected change readers see %s, want the last good %s", got, want)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes data to a temp file in the same directory and renames
// it over path, as atomic writers, vim and many deploy tools do.
func renameOver(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	for _, mode := range []struct {
		name     string
		pollOnly bool
	}{{"fsnotify", false}, {"polling", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Run("edit in place, unchanged rewrite does not fire", func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "samlkeyd.yaml")
				write(t, file, configYAML(9001))
				h := startWatch(t, dir, file, mode.pollOnly)
				renameOver(t, file, configYAML(9001)) // same bytes: no OnChange
				write(t, file, configYAML(9002))
				h.expectChange(9002, ErrEmpty) // the next delivery is the real change
			})
			t.Run("truncation is rejected, then a good write applies", func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "samlkeyd.yaml")
				write(t, file, configYAML(9001))
				h := startWatch(t, dir, file, mode.pollOnly)
				if err := os.Truncate(file, 0); err != nil {
					t.Fatal(err)
				}
				h.expectError("config file is empty", 9001)
				renameOver(t, file, configYAML(9003))
				h.expectChange(9003)
			})
			t.Run("invalid YAML and an invalid value are rejected", func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "samlkeyd.yaml")
				write(t, file, configYAML(9001))
				h := startWatch(t, dir, file, mode.pollOnly)
				renameOver(t, file, []byte("listen: [127.0.0.1\n"))
				h.expectError("yaml:", 9001)
				renameOver(t, file, []byte("listen: 127.0.0.1:9004\nlog_level: loud\n"))
				h.expectError(`log_level: "loud" is not a log level`, 9001)
				renameOver(t, file, configYAML(9004))
				h.expectChange(9004)
			})
			t.Run("delete and recreate", func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "samlkeyd.yaml")
				write(t, file, configYAML(9001))
				h := startWatch(t, dir, file, mode.pollOnly)
				if err := os.Remove(file); err != nil {
					t.Fatal(err)
				}
				h.expectError("no such file or directory", 9001)
				renameOver(t, file, configYAML(9005))
				h.expectChange(9005)
				renameOver(t, file, configYAML(9006)) // still watched after the recreate
				h.expectChange(9006)
			})
			t.Run("rename over, twice", func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "samlkeyd.yaml")
				write(t, file, configYAML(9001))
				h := startWatch(t, dir, file, mode.pollOnly)
				renameOver(t, file, configYAML(9007))
				h.expectChange(9007)
				renameOver(t, file, configYAML(9008)) // viper's own watch stops here
				h.expectChange(9008)
			})
			t.Run("symlink to a file in another directory, edited there", func(t *testing.T) {
				dir, elsewhere := t.TempDir(), t.TempDir()
				target := filepath.Join(elsewhere, "real.yaml")
				write(t, target, configYAML(9001))
				file := filepath.Join(dir, "samlkeyd.yaml")
				if err := os.Symlink(target, file); err != nil {
					t.Fatal(err)
				}
				h := startWatch(t, dir, file, mode.pollOnly)
				renameOver(t, target, configYAML(9011))
				h.expectChange(9011)
				other := filepath.Join(elsewhere, "other.yaml") // repoint the link
				write(t, other, configYAML(9012))
				if err := os.Symlink(other, file+".new"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(file+".new", file); err != nil {
					t.Fatal(err)
				}
				h.expectChange(9012)
				renameOver(t, other, configYAML(9013)) // the new target is followed
				h.expectChange(9013)
			})
			t.Run("Kubernetes ConfigMap ..data symlink swap", func(t *testing.T) {
				dir := t.TempDir()
				mount := func(version string, data []byte) {
					t.Helper()
					ts := filepath.Join(dir, "..2026_11_22_"+version)
					if err := os.Mkdir(ts, 0o700); err != nil {
						t.Fatal(err)
					}
					write(t, filepath.Join(ts, "samlkeyd.yaml"), data)
					tmp := filepath.Join(dir, "..data_tmp")
					if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
						t.Fatal(err)
					}
					if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
						t.Fatal(err)
					}
				}
				mount("a", configYAML(9001))
				file := filepath.Join(dir, "samlkeyd.yaml")
				if err := os.Symlink(filepath.Join("..data", "samlkeyd.yaml"), file); err != nil {
					t.Fatal(err)
				}
				h := startWatch(t, dir, file, mode.pollOnly)
				mount("b", configYAML(9009))
				h.expectChange(9009)
				mount("c", []byte("listen: nowhere\n"))
				h.expectError(`listen: "nowhere" is not host:port`, 9009)
				mount("d", configYAML(9010))
				h.expectChange(9010)
			})
		})
	}
}

func TestWatchCallbackPanic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "samlkeyd.yaml")
	write(t, file, configYAML(9001))
	errs := make(chan error, 4)
	changes := make(chan *Config, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- Watch(ctx, WatchOptions{File: file, Interval: 10 * time.Millisecond, pollOnly: true,
			Ready: func() { close(ready) },
			OnChange: func(c *Config) {
				if calls.Add(1) == 1 {
					panic("boom")
				}
				changes <- c
			},
			OnError: func(err error) { errs <- err },
		})
	}()
	<-ready
	renameOver(t, file, configYAML(9002))
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "callback panicked: boom") {
			t.Fatalf("OnError(%v), want the panic", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("a panicking OnChange was not reported")
	}
	renameOver(t, file, configYAML(9003))
	select {
	case c := <-changes:
		if c.Listen != "127.0.0.1:9003" {
			t.Fatalf("got %s", c.Listen)
		}
	case <-time.After(waitLimit):
		t.Fatal("the watch stopped after a panicking callback")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch after cancel = %v, want nil", err)
	}
}

func TestWatchCannotWatch(t *testing.T) {
	if err := Watch(context.Background(), WatchOptions{}); err == nil {
		t.Error("Watch without a file returned nil")
	}
	err := Watch(context.Background(), WatchOptions{File: "x.yaml", Interval: -1, pollOnly: true})
	if err == nil || !strings.Contains(err.Error(), "polling is off") {
		t.Errorf("Watch with neither events nor polling = %v, want an error", err)
	}
}

// TestWatchRelevant: events on the file, its symlink target, a ConfigMap's
// ..data entries or the directory itself start the debounce; a busy
// neighbour (a log file in the same directory) does not keep deferring it.
func TestWatchRelevant(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "real.yaml")
	write(t, target, configYAML(9001))
	file := filepath.Join(dir, "samlkeyd.yaml")
	if err := os.Symlink(target, file); err != nil {
		t.Fatal(err)
	}
	w := &watcher{path: file}
	w.follow()
	for name, want := range map[string]bool{
		file:                                    true,
		target:                                  true,
		filepath.Join(dir, "..data"):            true,
		filepath.Join(dir, "..data_tmp"):        true,
		dir:                                     true,
		filepath.Join(dir, "audit.log"):         false,
		filepath.Join(dir, "samlkeyd.yaml.tmp"): false,
		filepath.Join(elsewhere, "other.yaml"):  false,
	} {
		if got := w.relevant(name); got != want {
			t.Errorf("relevant(%s) = %v, want %v", name, got, want)
		}
	}
}
