package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMustExist: a command that is not init or serve must never make a
// store by accident. With MustExist, Open refuses a missing store (and
// creates nothing: no directory, no database, no master key); without it,
// Open creates the store and says so through Created.
func TestMustExist(t *testing.T) {
	forEachBackend(t, func(t *testing.T, o Options) {
		ctx := context.Background()
		o.NoBaseKeystores = true
		if ok, err := Exists(ctx, o); err != nil || ok {
			t.Fatalf("Exists on a fresh location = %v, %v; want false", ok, err)
		}
		must := o
		must.MustExist = true
		s, err := Open(ctx, must)
		if !errors.Is(err, ErrNoStore) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Open(MustExist) of a missing store = %v, want ErrNoStore", err)
		}
		if !strings.HasPrefix(err.Error(), "no samlkeyd store at ") {
			t.Errorf("error %q, want it to start with \"no samlkeyd store at \"", err)
		}
		if o.DatabaseURL == "" {
			if _, err := os.Stat(o.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Open(MustExist) created the data directory: %v", err)
			}
			if !strings.Contains(err.Error(), o.DataDir) {
				t.Errorf("error %q does not name the data directory", err)
			}
		} else if ok, _ := Exists(ctx, o); ok {
			t.Error("Open(MustExist) created the schema")
		}

		s = open(t, o)
		if !s.Created() {
			t.Error("Created() = false on the Open that made the store")
		}
		s.Close()
		if ok, err := Exists(ctx, o); err != nil || !ok {
			t.Fatalf("Exists after Open = %v, %v; want true", ok, err)
		}
		s = open(t, must)
		if s.Created() {
			t.Error("Created() = true on an existing store")
		}
	})
}

// TestMustExistEmptyFile: an empty database file (an interrupted copy, a
// stray touch) is no store either.
func TestMustExistEmptyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sqliteFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{DataDir: dir, MasterKey: testMasterKey, NoBaseKeystores: true, MustExist: true}
	if _, err := Open(context.Background(), o); !errors.Is(err, ErrNoStore) {
		t.Errorf("Open(MustExist) of an empty file = %v, want ErrNoStore", err)
	}
}

func TestLocation(t *testing.T) {
	abs, _ := filepath.Abs("samlkeyd-data")
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"default", Options{}, abs + " (SQLite)"},
		{"absolute", Options{DataDir: "/var/lib/samlkeyd"}, "/var/lib/samlkeyd (SQLite)"},
		{"postgres", Options{DatabaseURL: "postgres://app:S3cret@db.example.com:5432/samlkeyd?sslmode=require"},
			"PostgreSQL db.example.com:5432 database samlkeyd"},
		{"postgres schema", Options{DatabaseURL: "postgres://app@db/samlkeyd?search_path=s1&password=S3cret"},
			"PostgreSQL db database samlkeyd schema s1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.o.Location()
			if got != tt.want {
				t.Errorf("Location() = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "S3cret") || strings.Contains(got, "app") {
				t.Errorf("Location() = %q names the user or password", got)
			}
		})
	}
}
