package keys

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// staleTempAge is the age past which a temporary file of writeAtomic is
// taken as left by a killed process (kill -9 during keystore import) and
// removed by the next write of the same file. No write takes this long.
const staleTempAge = time.Hour

// WriteFile writes data to path atomically with mode 0600: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. On error path is left as it was.
func WriteFile(path string, data []byte) error {
	return writeAtomic(path, data, os.Rename)
}

// CreateFile is WriteFile for a file that must not be replaced: when path
// already exists (another process created it first) it fails with an error
// wrapping os.ErrExist and leaves the existing file alone.
func CreateFile(path string, data []byte) error {
	return writeAtomic(path, data, func(tmp, path string) error {
		err := os.Link(tmp, path)
		_ = os.Remove(tmp)
		return err
	})
}

// writeAtomic writes data to a 0600 temporary file beside path, fsyncs it,
// and hands it to place (rename or link) to become path.
func writeAtomic(path string, data []byte, place func(tmp, path string) error) (err error) {
	dir := filepath.Dir(path)
	removeStaleTemps(dir, filepath.Base(path), time.Now())
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %q: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err = place(tmp, path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some file systems refuse to fsync a directory
		_ = d.Close()
	}
	return nil
}

// removeStaleTemps removes, best effort, the temporary files writeAtomic
// left beside name in dir (".NAME.tmp-" and os.CreateTemp's digits) that
// are regular files older than staleTempAge. Other files, and the temporary
// files of a write in progress, are left alone.
func removeStaleTemps(dir, name string, now time.Time) {
	prefix := "." + name + ".tmp-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || now.Sub(fi.ModTime()) < staleTempAge {
			continue
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
}
