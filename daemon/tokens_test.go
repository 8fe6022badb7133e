package daemon

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/store"
)

// TestStoreTokens: a token made with samlkeyd token create authenticates
// once the daemon has rebuilt from the store (the change counter moved), a
// revoked one stops at the next rebuild, an expired one stops at its
// expiry without any store change, and a store token with a config token's
// name is ignored.
func TestStoreTokens(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cfg := testConfig()
	d, err := New(ctx, Options{Config: cfg, Store: st, Logger: testLogger(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	h := d.Handler()
	body := `{"idp":"corp"}`
	status := func(token string) int { return postJSON(t, h, "/api/v1/authn-requests", token, body).Code }

	app2, err := st.CreateToken(ctx, "test", store.NewToken{Name: "app2", Scopes: []string{ScopeSign}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, err := st.CreateToken(ctx, "test", store.NewToken{Name: "short", Scopes: []string{ScopeSign}, Expires: now.Add(time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	clash, err := st.CreateToken(ctx, "test", store.NewToken{Name: "app1", Scopes: []string{ScopeSign, ScopeAdmin}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(string(app2.Reveal())); got != http.StatusUnauthorized {
		t.Fatalf("store token before the rebuild: %d, want 401", got)
	}
	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		token string
		want  int
	}{
		"store token":             {string(app2.Reveal()), http.StatusOK},
		"store token with expiry": {string(short.Reveal()), http.StatusOK},
		"name of a config token":  {string(clash.Reveal()), http.StatusUnauthorized},
		"config token":            {testToken, http.StatusOK},
	} {
		if got := status(tc.token); got != tc.want {
			t.Errorf("%s: %d, want %d", name, got, tc.want)
		}
	}

	now = now.Add(2 * time.Hour) // past "short"'s expiry; no store change
	if got := status(string(short.Reveal())); got != http.StatusUnauthorized {
		t.Errorf("expired store token: %d, want 401", got)
	}
	if err := st.RevokeToken(ctx, "test", "app2"); err != nil {
		t.Fatal(err)
	}
	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	if got := status(string(app2.Reveal())); got != http.StatusUnauthorized {
		t.Errorf("revoked store token: %d, want 401", got)
	}
	if got := status(testToken); got != http.StatusOK {
		t.Errorf("config token after the revocation: %d, want 200", got)
	}
}
