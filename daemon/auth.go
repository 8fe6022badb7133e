package daemon

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/store"
)

// TokenStore is a store that keeps API tokens (samlkeyd token create).
// *store.Store satisfies it; a Store without it serves config tokens only.
// It MUST be safe for concurrent use.
type TokenStore interface {
	Tokens(ctx context.Context) ([]store.Token, error)
	// TouchToken records a token's last use; it limits its own writes.
	TouchToken(ctx context.Context, name string, at time.Time) error
}

var _ TokenStore = (*store.Store)(nil)

// The API scopes a token can hold.
const (
	ScopeSign  = "sign"
	ScopeAdmin = "admin"
)

// tokenSet checks bearer tokens against SHA-256 hashes: the config's
// api.tokens and the store's tokens (samlkeyd token create). It is built
// once per snapshot and never modified; a store token's expiry is checked
// at each request, since time passing is no store change.
type tokenSet struct {
	tokens []hashedToken
}

type hashedToken struct {
	name      string
	sum       [sha256.Size]byte
	scopes    []string
	expires   time.Time // zero: never
	fromStore bool
}

func newTokenSet(cfg []config.Token) (*tokenSet, error) {
	ts := &tokenSet{}
	for i, t := range cfg {
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("api.tokens[%d] (%s): sha256 must be 64 hex characters", i, t.Name)
		}
		ht := hashedToken{name: t.Name, scopes: t.Scopes}
		copy(ht.sum[:], raw)
		ts.tokens = append(ts.tokens, ht)
	}
	return ts, nil
}

// storeTokens builds the snapshot's token set: the config's tokens, then
// every store token valid at now whose name the config does not use (the
// config wins a clash, with a warning).
func storeTokens(ctx context.Context, cfg []config.Token, st Store, now time.Time, log *slog.Logger) (*tokenSet, error) {
	ts, err := newTokenSet(cfg)
	if err != nil {
		return nil, err
	}
	tst, ok := st.(TokenStore)
	if !ok {
		return ts, nil
	}
	stored, err := tst.Tokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("read API tokens: %w", err)
	}
	for _, t := range stored {
		if !t.Valid(now) {
			continue
		}
		if slices.ContainsFunc(cfg, func(c config.Token) bool { return c.Name == t.Name }) {
			log.Warn("API token in the store has the name of one in api.tokens; the config's is used", "token", t.Name)
			continue
		}
		raw, err := hex.DecodeString(t.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("API token %q in the store: its hash is not 64 hex characters", t.Name)
		}
		ht := hashedToken{name: t.Name, scopes: t.Scopes, expires: t.Expires, fromStore: true}
		copy(ht.sum[:], raw)
		ts.tokens = append(ts.tokens, ht)
	}
	return ts, nil
}

// lookup returns the token whose hash matches the presented bearer token
// and that has not expired at now. Every hash is compared, in constant
// time, whatever matches.
func (ts *tokenSet) lookup(bearer string, now time.Time) (hashedToken, bool) {
	sum := sha256.Sum256([]byte(bearer))
	var found hashedToken
	ok := 0
	for _, t := range ts.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t, 1
		}
	}
	if ok == 1 && !found.expires.IsZero() && !now.Before(found.expires) {
		return hashedToken{}, false
	}
	return found, ok == 1
}

// HashToken returns the hex SHA-256 a config file stores for a bearer token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// requireScope wraps an API handler: 401 without a valid bearer token, 403
// without the scope. It checks the token against the request's snapshot
// (the one instrument loaded) and hands that same snapshot to the handler,
// with the token's name as the actor.
func (d *Daemon) requireScope(scope string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		snap := d.requestSnapshot(r)
		if snap == nil {
			writeError(w, http.StatusServiceUnavailable, "not_ready", "no key snapshot is loaded yet")
			return
		}
		if len(snap.tokens.tokens) == 0 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samlkeyd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "the API is off: no token is configured (samlkeyd token create, or api.tokens)")
			return
		}
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samlkeyd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
			return
		}
		tok, ok := snap.tokens.lookup(bearer, d.now())
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samlkeyd", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid bearer token")
			return
		}
		if !slices.Contains(tok.scopes, scope) {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("token %q lacks the %q scope", tok.name, scope))
			return
		}
		if tok.fromStore {
			d.touchToken(tok.name)
		}
		h(w, r, snap, tok.name)
	}
}

// touchToken records a store token's last use in the background: the
// store writes at most once a minute per token, and a slow or unreachable
// store never holds up the request.
func (d *Daemon) touchToken(name string) {
	st, ok := d.opts.Store.(TokenStore)
	if !ok {
		return
	}
	now := d.now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := st.TouchToken(ctx, name, now); err != nil {
			d.log.Debug("record API token use", "token", name, "err", err)
		}
	}()
}
