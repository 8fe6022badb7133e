package daemon

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/samlkeyd/samlkeyd/config"
)

// The API scopes a token can hold.
const (
	ScopeSign  = "sign"
	ScopeAdmin = "admin"
)

// tokenSet checks bearer tokens against the SHA-256 hashes in the config.
// It is built once per snapshot and never modified.
type tokenSet struct {
	tokens []hashedToken
}

type hashedToken struct {
	name   string
	sum    [sha256.Size]byte
	scopes []string
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

// lookup returns the token whose hash matches the presented bearer token.
// Every configured hash is compared, in constant time, whatever matches.
func (ts *tokenSet) lookup(bearer string) (hashedToken, bool) {
	sum := sha256.Sum256([]byte(bearer))
	var found hashedToken
	ok := 0
	for _, t := range ts.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t, 1
		}
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
			writeError(w, http.StatusUnauthorized, "unauthorized", "the API is off: no token is configured (api.tokens)")
			return
		}
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || bearer == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samlkeyd"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token")
			return
		}
		tok, ok := snap.tokens.lookup(bearer)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="samlkeyd", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid bearer token")
			return
		}
		if !slices.Contains(tok.scopes, scope) {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("token %q lacks the %q scope", tok.name, scope))
			return
		}
		h(w, r, snap, tok.name)
	}
}
