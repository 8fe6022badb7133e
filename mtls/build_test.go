package mtls

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

func TestBuild(t *testing.T) {
	p := newPKI(t)
	records := map[string]*keys.Entry{
		"Partner mTLS": p.good,
		"Cert only":    {Alias: "root", Chain: []*x509.Certificate{p.serverCA.cert}},
	}
	errMissing := errors.New("no such certificate record")
	resolve := func(pc config.Profile) (*keys.Entry, []*x509.Certificate, error) {
		e, ok := records[pc.Keystore]
		if !ok {
			return nil, nil, fmt.Errorf("keystore %q: %w", pc.Keystore, errMissing)
		}
		return e, []*x509.Certificate{p.serverCA.cert}, nil
	}
	good := []config.Profile{{Name: "mhttps", Keystore: "Partner mTLS", DefaultPort: 8443}}
	check := func(name, url string) config.Check {
		return parsed(t, config.Check{Name: name, URL: url, Schedule: "@every 5m"})
	}
	t.Run("valid", func(t *testing.T) {
		checks, err := Build(good, []config.Check{check("a", "mhttps://a.example/"), check("b", "MHTTPS://b.example:9/")}, resolve)
		if err != nil {
			t.Fatal(err)
		}
		if len(checks) != 2 || checks[0].port != 8443 || checks[1].port != 9 || checks[0].Profile() != checks[1].Profile() {
			t.Errorf("checks %+v", checks)
		}
	})
	for _, tc := range []struct {
		name     string
		profiles []config.Profile
		checks   []config.Check
		want     []string
		wantErr  error
	}{
		{name: "keystore without private key", profiles: []config.Profile{{Name: "mhttps", Keystore: "Cert only"}},
			checks: []config.Check{check("a", "mhttps://a.example/")}, wantErr: ErrNoPrivateKey,
			want: []string{`protocol profile "mhttps" keystore "Cert only": keystore has no private key`}},
		{name: "missing record reported once", profiles: []config.Profile{{Name: "mhttps", Keystore: "Gone"}},
			checks: []config.Check{check("a", "mhttps://a.example/")}, wantErr: errMissing,
			want: []string{`protocol profile "mhttps": keystore "Gone": no such certificate record`}},
		{name: "unknown profile and duplicates", profiles: append(good, good[0]),
			checks:  []config.Check{check("a", "xhttps://a.example/"), check("b", "mhttps://b/"), check("b", "mhttps://b/")},
			wantErr: ErrUnknownProfile,
			want: []string{`protocol profile "mhttps" is defined twice`, `check "a" url: unknown protocol profile "xhttps"`,
				`check "b" is defined twice`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks, err := Build(tc.profiles, tc.checks, resolve)
			if err == nil || checks != nil {
				t.Fatalf("checks %v err %v", checks, err)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestStoreRecorder persists results in a real SQLite store and reads them
// back; the scheduler sees the previous result through it.
func TestStoreRecorder(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var _ Locker = st
	rec := StoreRecorder{Store: st, Keep: 2}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := &Result{Check: "partner", Start: start.Add(time.Duration(i) * time.Minute), OK: i == 2, Stage: StageTLS,
			Stages: map[string]time.Duration{StageTLS: time.Duration(i+1) * time.Millisecond}, AcceptableCAs: []string{"CN=CA"}}
		if err := rec.RecordCheck(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	h, err := rec.History(ctx, "partner", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || !h[0].OK || h[1].OK || !h[0].Start.Equal(start.Add(2*time.Minute)) || h[0].Stages[StageTLS] != 3*time.Millisecond {
		t.Fatalf("history (keep 2, newest first): %+v", h)
	}
	last, err := rec.LastCheck(ctx, "partner")
	if err != nil || last == nil || !last.OK || last.AcceptableCAs[0] != "CN=CA" {
		t.Fatalf("last: %+v %v", last, err)
	}
	if none, err := rec.LastCheck(ctx, "other"); none != nil || err != nil {
		t.Errorf("last of an unknown check: %+v %v", none, err)
	}
}

// TestStoreLock: with the store as Locker, a run whose lock is held (as
// another replica would hold it) is skipped, and runs once it is free.
func TestStoreLock(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: filepath.Join(t.TempDir(), "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := newPKI(t)
	rec := &MemoryRecorder{}
	s := NewScheduler(SchedulerOptions{Locker: st, Recorder: rec})
	if err := s.Update([]*Check{scheduledCheck(t, p.profile(t, p.good), "partner", closedPortURL(t), "@every 5m")}); err != nil {
		t.Fatal(err)
	}
	ran, err := st.WithLock(ctx, LockName("partner"), func(context.Context) error {
		fire(t, s, "partner")
		return nil
	})
	if !ran || err != nil || len(rec.History("partner")) != 0 {
		t.Fatalf("while held: ran %v err %v, %d runs", ran, err, len(rec.History("partner")))
	}
	fire(t, s, "partner")
	if len(rec.History("partner")) != 1 {
		t.Errorf("%d runs once the lock was free", len(rec.History("partner")))
	}
}
