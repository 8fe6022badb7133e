package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchOptions configures Watch.
type WatchOptions struct {
	// File is the config file to follow. It may be a symlink (a Kubernetes
	// ConfigMap mount: file -> ..data/file, ..data -> ..<timestamp>).
	File string
	// Interval is the polling fallback: the file is re-read this often even
	// when no file event arrives (0 = 2s, negative = no polling).
	Interval time.Duration
	// Debounce is how long a burst of file events must stay quiet before
	// the file is read (0 = 100ms): an editor save fires several events.
	Debounce time.Duration
	// OnChange receives each new config that loads and validates. It is
	// called from Watch's goroutine, one call at a time.
	OnChange func(*Config)
	// OnError receives each change that does not load (unreadable, deleted,
	// empty, invalid); OnChange is not called and the caller keeps its
	// previous config. A state that stays bad is reported once.
	OnError func(error)
	// Load loads the config; nil is Load(LoadOptions{File: File}).
	Load func() (*Config, error)
	// Ready, when set, is called once the watch is in place and the
	// starting content has been fingerprinted. A change before Ready may
	// be missed; a caller that wants no gap starts Watch, waits for
	// Ready, then loads its first config (a change in between is then
	// both loaded and delivered once more, which is harmless).
	Ready func()

	pollOnly bool // tests: no fsnotify, polling alone
}

// Watch follows o.File until ctx is done, then returns nil. It watches the
// file's directory, and its symlink target's, with fsnotify (so rename-over,
// delete-and-recreate and symlink swaps are seen), debounces bursts of
// events on the file (other files in the directory are ignored), compares a
// SHA-256 of the content so an unchanged file (a touch, a rewrite of the
// same bytes) does not fire. A polling loop covers what file events miss:
// a watcher that cannot start, a directory replaced, a network file system.
// The content present when Watch starts is taken as already loaded. Watch
// returns an error only when it cannot watch at all: no File, or no file
// events with polling turned off.
func Watch(ctx context.Context, o WatchOptions) error {
	if o.File == "" {
		return errors.New("watch config: no file to watch")
	}
	path, err := filepath.Abs(o.File)
	if err != nil {
		return fmt.Errorf("watch config %q: %w", o.File, err)
	}
	if o.Interval == 0 {
		o.Interval = 2 * time.Second
	}
	if o.Debounce <= 0 {
		o.Debounce = 100 * time.Millisecond
	}
	if o.Load == nil {
		o.Load = func() (*Config, error) { return Load(LoadOptions{File: o.File}) }
	}
	w := &watcher{o: o, path: path}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if !o.pollOnly {
		if fw, err := fsnotify.NewWatcher(); err == nil {
			defer fw.Close()
			w.fw = fw
			events, errs = fw.Events, fw.Errors
		} // else: polling alone still sees every change, only later
	}
	if w.fw == nil && o.Interval < 0 {
		return fmt.Errorf("watch config %q: file events are unavailable and polling is off: set an Interval", o.File)
	}
	w.follow()
	// Fingerprint after the watch is added, so no change falls between.
	w.last, w.lastErr = w.fingerprint()
	var poll <-chan time.Time
	if o.Interval > 0 {
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		poll = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	if o.Ready != nil {
		w.call(o.Ready)
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if w.relevant(ev.Name) {
				debounce.Reset(o.Debounce)
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			debounce.Reset(o.Debounce) // e.g. an event queue overflow: look
		case <-debounce.C:
			w.check()
		case <-poll:
			w.check()
		}
	}
}

type watcher struct {
	o       WatchOptions
	path    string
	fw      *fsnotify.Watcher // nil when polling alone
	names   []string          // base names whose events concern us
	last    [sha256.Size]byte // content last acted on
	lastErr string            // read error last acted on, "" when readable
}

// follow watches the file's directory and, when the file is a symlink, the
// directory of its current target (a ConfigMap's ..<timestamp> directory,
// or a file kept elsewhere), and notes the names whose events matter.
func (w *watcher) follow() {
	w.names = append(w.names[:0], filepath.Base(w.path))
	dirs := []string{filepath.Dir(w.path)}
	if target, err := filepath.EvalSymlinks(w.path); err == nil && target != w.path {
		w.names = append(w.names, filepath.Base(target))
		dirs = append(dirs, filepath.Dir(target))
	}
	if w.fw == nil {
		return
	}
	watched := w.fw.WatchList()
	for _, d := range dirs {
		if !slices.Contains(watched, d) {
			_ = w.fw.Add(d) // a directory that cannot be watched is polled
		}
	}
}

// relevant says whether an event on name may change what the file reads:
// the file itself (written, created, renamed over, removed), its symlink
// target, a ConfigMap's ..data swap, or a watched directory itself. Events
// on other files in the directory do not delay the debounce.
func (w *watcher) relevant(name string) bool {
	base := filepath.Base(name)
	return slices.Contains(w.names, base) || strings.HasPrefix(base, "..") ||
		name == filepath.Dir(w.path)
}

// fingerprint hashes the file's content (following symlinks) or returns the
// read error's text.
func (w *watcher) fingerprint() ([sha256.Size]byte, string) {
	data, err := os.ReadFile(w.path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return [sha256.Size]byte{}, pe.Err.Error()
		}
		return [sha256.Size]byte{}, err.Error()
	}
	return sha256.Sum256(data), ""
}

// check reads the file and, when it changed since the last check, loads it.
func (w *watcher) check() {
	w.follow() // the symlink target may have moved
	sum, readErr := w.fingerprint()
	if sum == w.last && readErr == w.lastErr {
		return
	}
	w.last, w.lastErr = sum, readErr
	if readErr != "" {
		w.report(fmt.Errorf("reload config %q: %s (the previous config stays)", w.o.File, readErr))
		return
	}
	cfg, err := w.o.Load()
	if err != nil {
		w.report(err)
		return
	}
	w.call(func() {
		if w.o.OnChange != nil {
			w.o.OnChange(cfg)
		}
	})
}

func (w *watcher) report(err error) {
	w.call(func() {
		if w.o.OnError != nil {
			w.o.OnError(err)
		}
	})
}

// call runs a callback, turning a panic into an OnError so one bad
// callback does not end the watch.
func (w *watcher) call(f func()) {
	defer func() {
		if r := recover(); r != nil && w.o.OnError != nil {
			w.o.OnError(fmt.Errorf("watch config %q: callback panicked: %v", w.o.File, r))
		}
	}()
	f()
}
