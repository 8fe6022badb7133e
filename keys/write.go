package keys

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile writes data to path atomically with mode 0600: it writes a
// temporary file in the same directory, fsyncs it, renames it over path and
// fsyncs the directory. On error path is left as it was.
func WriteFile(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write keystore %q: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write keystore %q: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write keystore %q: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write keystore %q: fsync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write keystore %q: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write keystore %q: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: some file systems refuse to fsync a directory
		_ = d.Close()
	}
	return nil
}
