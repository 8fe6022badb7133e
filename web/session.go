package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// SessionLifetime is how long an operator stays signed in.
const SessionLifetime = 12 * time.Hour

// maxSessions bounds the memory sessions can take; the oldest is dropped
// to make room.
const maxSessions = 1024

// Sessions holds the operator sessions of one daemon in memory: a session
// id is 32 random bytes, kept only as its SHA-256, with its own CSRF token
// for the sign-out form. Sessions end after SessionLifetime, on sign-out,
// on Clear, and when the daemon restarts. Safe for concurrent use.
type Sessions struct {
	now  func() time.Time
	rand io.Reader

	mu sync.Mutex
	m  map[[sha256.Size]byte]session
}

type session struct {
	expires time.Time
	csrf    string // the sign-out form's token
	tag     string // a short hash of csrf, appended to the page's ETag
}

// NewSessions returns an empty session table. nil now means time.Now; nil
// rand means crypto/rand.Reader.
func NewSessions(now func() time.Time, r io.Reader) *Sessions {
	if now == nil {
		now = time.Now
	}
	if r == nil {
		r = rand.Reader
	}
	return &Sessions{now: now, rand: r, m: map[[sha256.Size]byte]session{}}
}

// Create starts a session and returns its id, the cookie value.
func (s *Sessions) Create() (string, error) {
	id, err := s.token(32)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	csrf, err := s.token(32)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	tag := sha256.Sum256([]byte(csrf))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	s.m[sha256.Sum256([]byte(id))] = session{expires: now.Add(SessionLifetime), csrf: csrf, tag: hex.EncodeToString(tag[:6])}
	return id, nil
}

// lookup returns the live session of id.
func (s *Sessions) lookup(id string) (session, bool) {
	if id == "" {
		return session{}, false
	}
	k := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.m[k]
	if ok && !now.Before(ss.expires) {
		delete(s.m, k)
		return session{}, false
	}
	return ss, ok
}

// Valid reports whether id names a live session.
func (s *Sessions) Valid(id string) bool {
	_, ok := s.lookup(id)
	return ok
}

// Delete ends the session id (sign-out).
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sha256.Sum256([]byte(id)))
}

// Clear ends every session: call it when the admin tokens change, so a
// revoked token's sessions end with it.
func (s *Sessions) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
}

// Len returns the number of sessions held (live or not yet pruned).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// prune drops expired sessions and, at the cap, the one expiring first.
func (s *Sessions) prune(now time.Time) {
	var oldest [sha256.Size]byte
	var oldestAt time.Time
	for k, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, k)
			continue
		}
		if oldestAt.IsZero() || ss.expires.Before(oldestAt) {
			oldest, oldestAt = k, ss.expires
		}
	}
	if len(s.m) >= maxSessions {
		delete(s.m, oldest)
	}
}

func (s *Sessions) token(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("read random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
