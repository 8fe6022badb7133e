package config

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
// file's directory with fsnotify (so rename-over, delete-and-recreate and
// symlink swaps are seen), debounces bursts of events, and compares a
// SHA-256 of the content so an unchanged file (a touch, a rewrite of the
// same bytes) does not fire. A polling loop covers what file events miss:
// a watcher that cannot start, a directory replaced, a network file system.
// The content present when Watch starts is taken as already loaded.
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
			if fw.Add(filepath.Dir(path)) == nil {
				events, errs = fw.Events, fw.Errors
			}
		} // else: polling alone still sees every change, only later
	}
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
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Any event in the directory may be ours: the file itself, a
			// temp file renamed over it, or a ConfigMap's ..data swap.
			debounce.Reset(o.Debounce)
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
	last    [sha256.Size]byte // content last acted on
	lastErr string            // read error last acted on, "" when readable
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
