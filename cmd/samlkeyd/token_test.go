package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/store"
)

// TestTokenCommands: create prints the token alone on stdout, once; the
// store holds its SHA-256; list never shows it; revoke ends it; all is
// audited with the CLI's actor.
func TestTokenCommands(t *testing.T) {
	data := newStore(t)
	out, stderr, err := cliStderr(t, "--data", data, "token", "create", "--name", "app1", "--scopes", "sign,admin", "--expires", "90d")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^skd_[A-Za-z0-9_-]{43}\n$`).MatchString(out) {
		t.Fatalf("token create stdout = %q, want the token alone", out)
	}
	tok := strings.TrimSpace(out)
	if strings.Contains(stderr, tok) || !strings.Contains(stderr, "shown only this once") {
		t.Errorf("token create stderr = %q", stderr)
	}
	sum := sha256.Sum256([]byte(tok))
	s, err := store.Open(context.Background(), store.Options{DataDir: data, MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := s.Tokens(context.Background())
	s.Close()
	if err != nil || len(toks) != 1 {
		t.Fatalf("store tokens = %v, %v", toks, err)
	}
	if toks[0].SHA256 != hex.EncodeToString(sum[:]) || strings.Join(toks[0].Scopes, ",") != "admin,sign" {
		t.Errorf("stored token %+v is not the printed one's SHA-256 with its scopes", toks[0])
	}
	if d := time.Until(toks[0].Expires); d < 89*24*time.Hour || d > 90*24*time.Hour {
		t.Errorf("--expires 90d stored expiry %v from now", d)
	}

	if _, _, err := cliStderr(t, "--data", data, "token", "create", "--name", "app1", "--scopes", "sign"); !errors.Is(err, store.ErrExists) {
		t.Errorf("second app1 = %v, want ErrExists", err)
	}
	for _, bad := range [][]string{{"--scopes", "root"}, {"--scopes", "sign", "--expires", "-1d"}, {"--scopes", "sign", "--expires", "soon"}} {
		if out, _, err := cliStderr(t, append([]string{"--data", data, "token", "create", "--name", "app2"}, bad...)...); err == nil || out != "" {
			t.Errorf("token create %v = %q, %v; want a refusal and nothing on stdout", bad, out, err)
		}
	}

	out = mustCLI(t, "--data", data, "--log-level", "error", "token", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "app1") || !strings.Contains(out, "admin,sign") ||
		!strings.Contains(out, "never") || !strings.Contains(out, "active") || strings.Contains(out, tok) || strings.Contains(out, toks[0].SHA256) {
		t.Errorf("token list:\n%s", out)
	}
	out = mustCLI(t, "--data", data, "--log-level", "error", "token", "list", "--json")
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("token list --json: %v\n%s", err, out)
	}
	if got := strings.Join(jsonKeys(t, list[0]), ","); got != "created,expires,name,scopes" || strings.Contains(out, toks[0].SHA256) {
		t.Errorf("token list --json keys %s:\n%s", got, out)
	}

	if out := mustCLI(t, "--data", data, "--log-level", "error", "token", "revoke", "app1"); out != "token \"app1\" revoked\n" {
		t.Errorf("token revoke = %q", out)
	}
	if _, _, err := cliStderr(t, "--data", data, "token", "revoke", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke of no token = %v", err)
	}
	if out := mustCLI(t, "--data", data, "--log-level", "error", "token", "list"); !strings.Contains(out, "revoked") {
		t.Errorf("token list after revoke:\n%s", out)
	}
	var audit []store.AuditEntry
	if err := json.Unmarshal([]byte(mustCLI(t, "--data", data, "--log-level", "error", "audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range audit {
		if e.Object == "app1" && strings.HasPrefix(e.Actor, "cli") {
			actions = append(actions, e.Action)
		}
	}
	if strings.Join(actions, ",") != store.ActionTokenCreate+","+store.ActionTokenRevoke {
		t.Errorf("audit of app1 by the CLI: %v", actions)
	}
}

func TestParseLifetime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true}, {"2160h", 2160 * time.Hour, true}, {"1d", 24 * time.Hour, true},
		{"0d", 0, false}, {"-3h", 0, false}, {"d", 0, false}, {"9999999999d", 0, false}, {"1y", 0, false},
	} {
		got, err := parseLifetime(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseLifetime(%q) = %v, %v", tt.in, got, err)
		}
	}
}
