package keys

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestWriteFileRemovesStaleTemps: a write removes the temporary files a
// killed write of the same file left over an hour ago, and nothing else:
// not young ones (a write in progress), not other names, not look-alikes.
func TestWriteFileRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * time.Hour)
	files := map[string]time.Time{
		".signing.p12.tmp-123456789": old,                              // stale: removed
		".signing.p12.tmp-42":        old,                              // stale: removed
		".signing.p12.tmp-987654321": time.Now().Add(-5 * time.Minute), // in progress: kept
		".signing.p12.tmp-abc":       old,                              // not our pattern: kept
		".signing.p12.tmp-":          old,                              // kept
		".other.p12.tmp-123456789":   old,                              // another file's: kept
		"signing.p12.tmp-123456789":  old,                              // no dot: kept
	}
	for name, mt := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// A stale directory with the pattern is not ours to remove.
	if err := os.Mkdir(filepath.Join(dir, ".signing.p12.tmp-77"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(dir, ".signing.p12.tmp-77"), old, old)

	if err := WriteFile(filepath.Join(dir, "signing.p12"), []byte("keystore")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{".other.p12.tmp-123456789", ".signing.p12.tmp-", ".signing.p12.tmp-77", ".signing.p12.tmp-987654321",
		".signing.p12.tmp-abc", "signing.p12", "signing.p12.tmp-123456789"}
	if !slices.Equal(got, want) {
		t.Fatalf("directory holds\n%q\nwant\n%q", got, want)
	}
}
