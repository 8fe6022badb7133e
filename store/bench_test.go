package store

import (
	"context"
	"path/filepath"
	"testing"
)

// The daemon polls ChangeCounter to learn that something changed, instead
// of reading every record: BenchmarkChangeCounter against
// BenchmarkRecordsBaseline (a fresh store's four records, unsealed) is the
// ratio the README's claim "cheap to poll" rests on.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(context.Background(), Options{DataDir: filepath.Join(b.TempDir(), "data"), MasterKey: testMasterKey})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkChangeCounter(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.ChangeCounter(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordsBaseline(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Records(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
