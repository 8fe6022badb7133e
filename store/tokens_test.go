package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		o.Now, o.NoBaseKeystores = clock.Now, true
		s := open(t, o)
		replica := open(t, o)
		before, _ := s.ChangeCounter(ctx)

		rnd := bytes.NewReader(bytes.Repeat([]byte{7}, 64))
		tok, err := s.CreateToken(ctx, "cli:root", NewToken{Name: "app1", Scopes: []string{"sign", "admin", "sign"}, Expires: clock.Now().Add(90 * 24 * time.Hour)}, rnd)
		if err != nil {
			t.Fatal(err)
		}
		plain := string(tok.Reveal())
		if want := TokenPrefix + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)); plain != want {
			t.Errorf("token = %q, want %q", plain, want)
		}
		if fmt.Sprint(tok) == plain || strings.Contains(fmt.Sprintf("%+v", tok), plain) {
			t.Error("the token prints in clear")
		}
		if after, _ := s.ChangeCounter(ctx); after != before+1 {
			t.Errorf("change counter %d -> %d, want one bump", before, after)
		}

		// A replica sees it; only the hash is kept.
		list, err := replica.Tokens(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("Tokens on a replica = %+v, %v", list, err)
		}
		got := list[0]
		sum := sha256.Sum256([]byte(plain))
		if got.Name != "app1" || got.SHA256 != hex.EncodeToString(sum[:]) || strings.Join(got.Scopes, ",") != "admin,sign" ||
			!got.Created.Equal(clock.Now()) || !got.LastUsed.IsZero() || !got.Valid(clock.Now()) {
			t.Errorf("token as stored = %+v", got)
		}
		if got.Valid(got.Expires) {
			t.Error("token valid at its expiry")
		}
		if j, _ := json.Marshal(got); strings.Contains(string(j), got.SHA256) {
			t.Errorf("token JSON carries its hash: %s", j)
		}
		assertNotStored(t, s, plain)

		// Refusals.
		bad := []struct {
			name string
			nt   NewToken
			want error
		}{
			{"taken name", NewToken{Name: "app1", Scopes: []string{"sign"}}, ErrExists},
			{"no scope", NewToken{Name: "x", Scopes: nil}, ErrInvalid},
			{"unknown scope", NewToken{Name: "x", Scopes: []string{"root"}}, ErrInvalid},
			{"name with space", NewToken{Name: "a b", Scopes: []string{"sign"}}, ErrInvalid},
			{"expired already", NewToken{Name: "x", Scopes: []string{"sign"}, Expires: clock.Now()}, ErrInvalid},
		}
		for _, b := range bad {
			if _, err := s.CreateToken(ctx, "cli:root", b.nt, nil); !errors.Is(err, b.want) {
				t.Errorf("%s: CreateToken = %v, want %v", b.name, err, b.want)
			}
		}

		// Last use: written at most once a minute.
		for _, c := range []struct {
			after time.Duration
			want  time.Duration // LastUsed as an offset from the first touch
		}{{0, 0}, {30 * time.Second, 0}, {61 * time.Second, 61 * time.Second}} {
			if err := s.TouchToken(ctx, "app1", clock.Now().Add(c.after)); err != nil {
				t.Fatal(err)
			}
			list, _ := replica.Tokens(ctx)
			if !list[0].LastUsed.Equal(clock.Now().Add(c.want)) {
				t.Errorf("touch at +%v: last used %v, want +%v", c.after, list[0].LastUsed, c.want)
			}
		}
		// Another replica's touch within the minute writes nothing either.
		if err := replica.TouchToken(ctx, "app1", clock.Now().Add(90*time.Second)); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.Tokens(ctx); !list[0].LastUsed.Equal(clock.Now().Add(61 * time.Second)) {
			t.Errorf("touch by a replica 29 s later rewrote last used: %v", list[0].LastUsed)
		}
		mid, _ := s.ChangeCounter(ctx)

		// Revocation: effective for the replica, audited, re-creatable.
		if err := s.RevokeToken(ctx, "cli:root", "app1"); err != nil {
			t.Fatal(err)
		}
		if list, _ := replica.Tokens(ctx); list[0].Valid(clock.Now()) || list[0].Revoked.IsZero() {
			t.Errorf("revoked token still valid on a replica: %+v", list[0])
		}
		if after, _ := s.ChangeCounter(ctx); after != mid+1 {
			t.Errorf("revoke moved the counter %d -> %d, want one bump (touches none)", mid, after)
		}
		if err := s.RevokeToken(ctx, "cli:root", "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke of a missing token = %v, want ErrNotFound", err)
		}
		tok2, err := s.CreateToken(ctx, "cli:root", NewToken{Name: "app1", Scopes: []string{"sign"}}, nil)
		if err != nil {
			t.Fatalf("re-create a revoked token's name: %v", err)
		}
		if list, _ := s.Tokens(ctx); len(list) != 1 || !list[0].Valid(clock.Now()) || !list[0].Expires.IsZero() {
			t.Errorf("after re-creation: %+v", list)
		}
		assertNotStored(t, s, string(tok2.Reveal()))
		var actions []string
		audit, _ := s.Audit(ctx)
		for _, e := range audit {
			actions = append(actions, e.Action+" "+e.Object+" "+e.After)
		}
		if want := "token.create app1 admin,sign|token.revoke app1 |token.create app1 sign"; strings.Join(actions, "|") != want {
			t.Errorf("audit = %q, want %q", strings.Join(actions, "|"), want)
		}
	})
}

// assertNotStored fails when the token appears in any text of the tokens
// table or the audit log.
func assertNotStored(t *testing.T, s *Store, token string) {
	t.Helper()
	for _, q := range []string{
		`SELECT name || sha256 || scopes || created || last_used || expires || revoked FROM api_tokens`,
		`SELECT actor || action || object || old_value || new_value FROM audit`,
	} {
		rows, err := s.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(v, token) || strings.Contains(v, strings.TrimPrefix(token, TokenPrefix)) {
				t.Errorf("the token is stored in clear: %q", v)
			}
		}
		rows.Close()
	}
}
