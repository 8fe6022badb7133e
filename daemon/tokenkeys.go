package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/store"
)

// Token keys: a pkcs11 record's key is opened once per record version and
// kept across snapshots in the build cache (buildCache.tokens). Around
// that:
//
//   - tokenLoop checks every open token key on a timer (Key.Check); a key
//     that fails is reported as a failed "token" component naming its
//     record, and Reconnect is tried on every tick until the token answers
//     again. The snapshot keeps the same *pkcs11.Key, so a reconnected key
//     serves again without a rebuild.
//   - A key the new snapshot no longer holds (its record changed version or
//     is gone) is closed after tokenCloseGrace, so requests and mTLS checks
//     still holding the previous snapshot finish first. A key only a failed
//     build opened is closed at once: no snapshot ever held it.
//   - Shutdown closes every token key (the sessions log out).

// KindToken is the kind of the components that report a token key's state,
// one per pkcs11 record the serving snapshot holds open (named by record
// id), set by the token check, not the build.
const KindToken = "token"

// tokenCheckEvery is how often token keys are checked (and failed ones
// reconnected); tokenCloseGrace is how long a token key the serving
// snapshot dropped stays open for requests still holding the previous one
// (longer than the HTTP server's write timeout and an mTLS check's).
const (
	tokenCheckEvery = 15 * time.Second
	tokenCloseGrace = 2 * time.Minute
)

// tokenCredential opens a pkcs11 record's key in its token (once per record
// version, kept across snapshots with the build cache) as a key of use. The
// chain is the record's stored one, which cert add checked against the
// token key. Errors name the record and the URI, never the PIN.
func (o *opener) tokenCredential(rec *store.Record, use keys.Use) (*keys.Credential, error) {
	k, err := o.tokenKey(rec)
	if err != nil {
		return nil, err
	}
	return &keys.Credential{
		RecordID: rec.ID, RecordName: rec.Name, Use: use, Role: keys.RoleCurrent,
		Signer: k.Signer(), Chain: k.Chain(),
	}, nil
}

// tokenEntry opens a pkcs11 record's key as an mTLS client key entry: the
// TLS handshake signs through the token.
func (o *opener) tokenEntry(rec *store.Record) (*keys.Entry, error) {
	k, err := o.tokenKey(rec)
	if err != nil {
		return nil, err
	}
	return &keys.Entry{Alias: k.URI().Object, Key: k.Signer(), Chain: k.Chain()}, nil
}

// tokenKey returns rec's open token key, reading the record and opening it
// on a miss. Every use of a token key in a build goes through here, so the
// build's cache lists every token key its snapshot holds.
func (o *opener) tokenKey(rec *store.Record) (*pkcs11.Key, error) {
	ok := openKey{rec.ID, rec.Version, "token"}
	if k, hit := lookup(o.cache.tokens, o.cache.prevTokens, ok); hit {
		return k, nil
	}
	label := recordLabel(rec)
	if o.module == "" {
		return nil, fmt.Errorf("open %s: set pkcs11.module to the PKCS#11 library to open its token", label)
	}
	full, err := o.load(rec)
	if err != nil {
		return nil, err
	}
	u, err := full.PKCS11URI()
	if err != nil {
		return nil, err
	}
	chain := full.Chain()
	if len(chain) == 0 {
		return nil, fmt.Errorf("open %s: %w", label, errors.New("no stored certificate chain"))
	}
	k, err := pkcs11.Open(pkcs11.Options{Module: o.module, URI: u, PIN: full.StorePassword, Chain: chain})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", label, err)
	}
	o.cache.tokens[ok] = k
	return k, nil
}

func recordLabel(rec *store.Record) string {
	return fmt.Sprintf("certificate record %s (%q)", rec.ID, rec.Name)
}

func (c *buildCache) prevTokens() map[openKey]*pkcs11.Key {
	if c.prev == nil {
		return nil
	}
	return c.prev.tokens
}

// closeOpened closes the token keys this cache opened itself (not taken
// from the previous build's): the build failed, no snapshot holds them.
func (c *buildCache) closeOpened() {
	carried := c.prevTokenSet()
	for _, k := range c.tokens {
		if !carried[k] {
			_ = k.Close()
		}
	}
}

func (c *buildCache) prevTokenSet() map[*pkcs11.Key]bool {
	set := map[*pkcs11.Key]bool{}
	for _, k := range c.prevTokens() {
		set[k] = true
	}
	return set
}

// tokenKeys closes token keys no snapshot serves any more; its zero value
// is ready. It is safe for concurrent use.
type tokenKeys struct {
	mu      sync.Mutex
	grace   time.Duration // 0 = tokenCloseGrace (tests shorten it)
	pending map[*pkcs11.Key]*time.Timer
	done    bool // shut down: close at once
}

// swapped closes, after the grace delay, the token keys prev's cache held
// that next's does not.
func (t *tokenKeys) swapped(prev, next *Snapshot) {
	if prev == nil || prev.cache == nil || next == nil || next.cache == nil || prev.cache == next.cache {
		return
	}
	kept := map[*pkcs11.Key]bool{}
	for _, k := range next.cache.tokens {
		kept[k] = true
	}
	for _, k := range prev.cache.tokens {
		if !kept[k] {
			t.closeLater(k)
		}
	}
}

func (t *tokenKeys) closeLater(k *pkcs11.Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		_ = k.Close()
		return
	}
	if _, ok := t.pending[k]; ok {
		return
	}
	grace := t.grace
	if grace == 0 {
		grace = tokenCloseGrace
	}
	if t.pending == nil {
		t.pending = map[*pkcs11.Key]*time.Timer{}
	}
	t.pending[k] = time.AfterFunc(grace, func() {
		t.mu.Lock()
		delete(t.pending, k)
		t.mu.Unlock()
		_ = k.Close()
	})
}

// closeAll closes the keys waiting for their grace and those of s, at
// shutdown; keys dropped later are closed at once.
func (t *tokenKeys) closeAll(s *Snapshot) {
	t.mu.Lock()
	t.done = true
	pending := t.pending
	t.pending = nil
	t.mu.Unlock()
	for k, timer := range pending {
		if timer.Stop() {
			_ = k.Close()
		}
	}
	s.CloseTokens()
}

// CloseTokens closes the token keys s holds (their sessions log out). It
// is for snapshots built once, by a CLI command or a test: a daemon closes
// the keys of the snapshots it served itself. s must not sign or decrypt
// with them afterwards.
func (s *Snapshot) CloseTokens() {
	if s == nil || s.cache == nil {
		return
	}
	for _, k := range s.cache.tokens {
		_ = k.Close()
	}
}

// closeTokens closes every token key the daemon holds (shutdown).
func (d *Daemon) closeTokens() { d.tokenKeys.closeAll(d.snap.Load()) }

// tokenLoop checks the serving snapshot's token keys every
// tokenCheckEvery, reconnecting failed ones.
func (d *Daemon) tokenLoop(ctx context.Context) {
	t := time.NewTicker(tokenCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.checkTokens()
		}
	}
}

// checkTokens checks every token key of the serving snapshot and reports
// each as a "token" component. Failed keys are first all closed, then
// reconnected one by one: a module that rescans its tokens only when it is
// initialised again (SoftHSM2) sees a token that came back once none of
// its sessions is left open.
func (d *Daemon) checkTokens() {
	defer d.recoverJob("token check")
	s := d.snap.Load()
	if s == nil || s.cache == nil {
		return
	}
	type tokenState struct {
		rec string
		k   *pkcs11.Key
		err error
	}
	var states []*tokenState
	for ok, k := range s.cache.tokens {
		states = append(states, &tokenState{rec: ok.id, k: k, err: k.Check()})
	}
	sort.Slice(states, func(i, j int) bool { return states[i].rec < states[j].rec })
	for _, st := range states {
		if st.err != nil {
			_ = st.k.Close()
		}
	}
	list := make([]ComponentStatus, 0, len(states))
	for _, st := range states {
		err := st.err
		if err != nil {
			if rerr := st.k.Reconnect(); rerr == nil {
				d.log.Info("token key reconnected", "record", st.rec, "uri", st.k.URI().String())
				err = nil
			} else {
				err = fmt.Errorf("%s: token key failed (%w); reconnecting every %s: %w", tokenRecordLabel(s, st.rec), st.err, tokenCheckEvery, rerr)
			}
		}
		list = append(list, status(KindToken, st.rec, err, d.now()))
	}
	d.components.replace(list, []string{KindToken})
}

// tokenRecordLabel names record id as the snapshot lists it.
func tokenRecordLabel(s *Snapshot, id string) string {
	if r, ok := s.recordIdx.byID(id); ok {
		return recordLabel(r)
	}
	return "certificate record " + id
}
