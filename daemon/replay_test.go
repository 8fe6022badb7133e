package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make a schema per test

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// sharedStores returns, per backend, a function opening one more store on
// the same database: two opens are two replicas. PostgreSQL uses a schema of
// the test's own in SAMLKEYD_TEST_DATABASE_URL (skipped when unset).
func sharedStores(t testing.TB, backend string) func() *store.Store {
	t.Helper()
	o := store.Options{MasterKey: secret.FromString(strings.Repeat("ab", 32))}
	if backend == "postgres" {
		o.DatabaseURL = pgSchemaURL(t)
	} else {
		o.DataDir = t.TempDir()
	}
	return func() *store.Store {
		st, err := store.Open(context.Background(), o)
		if err != nil {
			t.Fatalf("open %s store: %v", backend, err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
}

// pgSchemaURL is a PostgreSQL URL on a schema of the test's own.
func pgSchemaURL(t testing.TB) string {
	u, _ := tooltest.PostgresSchema(t)
	return u
}

// TestReplayRefusedAcrossReplicas runs two daemons (replicas) on one store:
// a response one accepted is refused as a replay by the other, both ways.
func TestReplayRefusedAcrossReplicas(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			open := sharedStores(t, backend)
			st1 := open()
			idp := newTestIdP(t, st1)
			cfg := testConfig()
			cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
			cfg.IdPs[0].EncryptAssertion = true
			one, two := newDaemon(t, cfg, st1).Handler(), newDaemon(t, cfg, open()).Handler()
			metadata := get(t, one, "/saml/metadata").Body.Bytes()
			verify := func(h http.Handler, resp, reqID string) (int, string) {
				b, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp, "request_id": reqID})
				w := postJSON(t, h, "/api/v1/responses", testToken, string(b))
				var e apiError
				_ = json.Unmarshal(w.Body.Bytes(), &e)
				return w.Code, e.Error
			}
			for i, order := range [][2]http.Handler{{one, two}, {two, one}} {
				reqID := fmt.Sprintf("_req%d", i)
				resp := idp.respond(t, metadata, reqID)
				if code, e := verify(order[0], resp, reqID); code != http.StatusOK {
					t.Fatalf("round %d: first replica: %d %s", i, code, e)
				}
				if code, e := verify(order[1], resp, reqID); code != http.StatusUnprocessableEntity || e != sp.CheckReplay {
					t.Errorf("round %d: the other replica answered the replay %d %q, want 422 %q", i, code, e, sp.CheckReplay)
				}
				if code, e := verify(order[0], resp, reqID); code != http.StatusUnprocessableEntity || e != sp.CheckReplay {
					t.Errorf("round %d: the same replica answered the replay %d %q", i, code, e)
				}
			}
		})
	}
}

// TestReplayPurge: the purge loop's job deletes the expired ids and counts
// them; an unexpired id stays refused.
func TestReplayPurge(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	ctx := context.Background()
	now := time.Now()
	for i, exp := range []time.Time{now.Add(-time.Minute), now.Add(-time.Second), now.Add(time.Hour)} {
		if _, err := st.RecordReplay(ctx, fmt.Sprint("id", i), exp, now.Add(-2*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	d.purgeReplays(ctx, st)
	if got := testutil.ToFloat64(d.metrics.replayPurged); got != 2 {
		t.Errorf("purged %v ids, want 2", got)
	}
	if seen, err := st.RecordReplay(ctx, "id2", now.Add(time.Hour), now); err != nil || !seen {
		t.Errorf("the unexpired id after a purge: seen %v, %v", seen, err)
	}
}

// BenchmarkReplayCheck is what the replay check adds to each verified
// response: one id recorded in the in-memory cache alone (before), or in
// front of the store's shared ids (after) on SQLite and PostgreSQL.
func BenchmarkReplayCheck(b *testing.B) {
	for _, backend := range []string{"memory", "sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var c sp.ReplayCache = sp.NewMemoryReplayCache(replayMemory)
			if backend != "memory" {
				c = replayCache(sharedStores(b, backend)())
			}
			ctx := context.Background()
			now := time.Now()
			b.ResetTimer()
			for i := range b.N {
				if seen, err := c.Record(ctx, fmt.Sprintf("corp\x00_id%d", i), now.Add(5*time.Minute), now); err != nil || seen {
					b.Fatal(seen, err)
				}
			}
		})
	}
}
