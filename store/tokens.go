package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/samlkeyd/samlkeyd/secret"
)

// Audit actions of API tokens. The object is the token's name; the token
// and its hash are never written.
const (
	ActionTokenCreate = "token.create" // after: its scopes
	ActionTokenRevoke = "token.revoke"
)

// TokenPrefix starts every token CreateToken makes, so a leaked one is
// recognisable (secret scanners, logs).
const TokenPrefix = "skd_"

// tokenBytes is the randomness of a token: 256 bits.
const tokenBytes = 32

// TokenTouchInterval is how often at most TouchToken writes a token's last
// use: a busy token costs one write a minute, not one per request.
const TokenTouchInterval = time.Minute

// The token scopes.
const (
	ScopeSign  = "sign"
	ScopeAdmin = "admin"
)

// Token is an API token as the store keeps it: never the token itself,
// only its SHA-256.
type Token struct {
	Name     string    `json:"name"`
	SHA256   string    `json:"-"` // lowercase hex SHA-256 of the token, as api.tokens[].sha256
	Scopes   []string  `json:"scopes"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Expires  time.Time `json:"expires,omitzero"` // zero: never
	Revoked  time.Time `json:"revoked,omitzero"` // zero: not revoked
}

// Valid reports whether the token may be used at now: not revoked, not
// expired.
func (t Token) Valid(now time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

// NewToken is what CreateToken stores.
type NewToken struct {
	Name    string
	Scopes  []string  // sign, admin
	Expires time.Time // zero: never
}

func migrateV10(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	_, err := tx.ExecContext(ctx, d.sql(`CREATE TABLE api_tokens (
		name      TEXT PRIMARY KEY,
		sha256    TEXT NOT NULL UNIQUE,
		scopes    TEXT NOT NULL,
		created   TEXT NOT NULL,
		last_used TEXT NOT NULL,
		expires   TEXT NOT NULL,
		revoked   TEXT NOT NULL
	)`))
	return err
}

// checkNewToken validates t and returns its scopes sorted, without
// duplicates.
func checkNewToken(t NewToken, now time.Time) ([]string, error) {
	if t.Name == "" || len(t.Name) > 64 || strings.ContainsFunc(t.Name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == ',' }) {
		return nil, fmt.Errorf("token name %q: 1 to 64 printable characters without white space or commas: %w", t.Name, ErrInvalid)
	}
	if len(t.Scopes) == 0 {
		return nil, fmt.Errorf("token %q: give at least one scope (sign, admin): %w", t.Name, ErrInvalid)
	}
	scopes := slices.Clone(t.Scopes)
	for _, sc := range scopes {
		if sc != ScopeSign && sc != ScopeAdmin {
			return nil, fmt.Errorf("token %q: scope %q: want sign or admin: %w", t.Name, sc, ErrInvalid)
		}
	}
	slices.Sort(scopes)
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return nil, fmt.Errorf("token %q: expires %s, which is not in the future: %w", t.Name, t.Expires.UTC().Format(time.RFC3339), ErrInvalid)
	}
	return slices.Compact(scopes), nil
}

// CreateToken makes a token from 32 bytes of rnd (nil: the store's random
// source), stores its SHA-256 and returns the token, which is never stored
// and cannot be shown again: TokenPrefix then base64url. A name taken by a
// token that is not revoked gives ErrExists; a revoked one is replaced.
// Audited; moves the change counter, so daemons and replicas load it
// within one poll. Its op name is "create_token".
func (s *Store) CreateToken(ctx context.Context, actor string, t NewToken, rnd io.Reader) (_ secret.Value, err error) {
	ctx, done := s.call(ctx, "create_token")
	defer done(&err)
	now := s.now().UTC()
	scopes, err := checkNewToken(t, now)
	if err != nil {
		return secret.Value{}, fmt.Errorf("create token: %w", err)
	}
	if rnd == nil {
		rnd = s.rand
	}
	raw := make([]byte, tokenBytes)
	defer clear(raw)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return secret.Value{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	token := secret.FromString(TokenPrefix + base64.RawURLEncoding.EncodeToString(raw))
	sum := sha256.Sum256(token.Reveal())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var revoked string
		err := tx.QueryRowContext(ctx, `SELECT revoked FROM api_tokens WHERE name = $1`+s.d.forUpdate, t.Name).Scan(&revoked)
		switch {
		case err == nil && revoked == "":
			return fmt.Errorf("a token named %q: %w: revoke it first (samlkeyd token revoke %s)", t.Name, ErrExists, t.Name)
		case err == nil:
			if _, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = $1`, t.Name); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (name, sha256, scopes, created, last_used, expires, revoked)
			VALUES ($1, $2, $3, $4, '', $5, '')`, t.Name, hex.EncodeToString(sum[:]), strings.Join(scopes, ","), fmtTime(now), optTime(t.Expires)); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionTokenCreate, t.Name, "", strings.Join(scopes, ",")); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return secret.Value{}, fmt.Errorf("create token %q: %w", t.Name, err)
	}
	return token, nil
}

// optTime formats t, or "" for the zero time.
func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

// Tokens returns every token, revoked ones too, ordered by name. Its op name
// is "tokens".
func (s *Store) Tokens(ctx context.Context) (_ []Token, err error) {
	ctx, done := s.call(ctx, "tokens")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT name, sha256, scopes, created, last_used, expires, revoked FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var scopes string
		var times [4]string
		if err := rows.Scan(&t.Name, &t.SHA256, &scopes, &times[0], &times[1], &times[2], &times[3]); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Scopes = strings.Split(scopes, ",")
		for i, dst := range []*time.Time{&t.Created, &t.LastUsed, &t.Expires, &t.Revoked} {
			if *dst, err = parseTime(times[i]); err != nil {
				return nil, fmt.Errorf("list tokens: %q: %w", t.Name, err)
			}
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken revokes the token named name (ErrNotFound when there is none;
// revoking a revoked token changes nothing). Audited; moves the change
// counter. Its op name is "revoke_token".
func (s *Store) RevokeToken(ctx context.Context, actor, name string) (err error) {
	ctx, done := s.call(ctx, "revoke_token")
	defer done(&err)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var revoked string
		err := tx.QueryRowContext(ctx, `SELECT revoked FROM api_tokens WHERE name = $1`+s.d.forUpdate, name).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || revoked != "" {
			return err
		}
		now := s.now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked = $1 WHERE name = $2`, fmtTime(now), name); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionTokenRevoke, name, "", ""); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	return nil
}

// TouchToken records that the token named name was used at at. It writes
// at most once per TokenTouchInterval per token (this process remembers
// its last write; the statement skips a newer one another replica made),
// and it is neither audited nor does it move the change counter: a use is
// not a change, and every daemon would reload once a minute per busy
// token. Its op name is "touch_token".
func (s *Store) TouchToken(ctx context.Context, name string, at time.Time) (err error) {
	s.mu.Lock()
	last, ok := s.touched[name]
	s.mu.Unlock()
	if ok && at.Sub(last) < TokenTouchInterval && !at.Before(last) {
		return nil
	}
	ctx, done := s.call(ctx, "touch_token")
	defer done(&err)
	if _, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = $1 WHERE name = $2 AND last_used < $3`,
		fmtTime(at), name, fmtTime(at.Add(-TokenTouchInterval))); err != nil {
		return fmt.Errorf("touch token %q: %w", name, err)
	}
	s.mu.Lock()
	s.touched[name] = at
	s.mu.Unlock()
	return nil
}
