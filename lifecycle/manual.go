package lifecycle

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

// The staged rollover by hand: Publish a next key, wait until the IdPs
// have fetched the metadata (rotate status), Promote it, and the retired key
// leaves metadata and decryption after retire_after. Cancel withdraws a next
// key never promoted. Each works with or without a rotation block (the
// defaults of DefaultPolicy apply), under the use's lock, after reconciling
// the rotation states with a keystore property moved by hand.

// ErrNoNext is returned (wrapped) by Promote and Cancel when the use has no
// next key published.
var ErrNoNext = errors.New("no next key is published (samlkeyd rotate publish)")

// ErrUnfit is returned (wrapped) by Publish when the record brought cannot
// serve the use.
var ErrUnfit = errors.New("the record cannot serve this use")

// BehindError is Promote's refusal while IdPs that fetched the metadata
// before the next key was published have not fetched it since.
type BehindError struct {
	Use  keys.Use
	IdPs []IdPFetch // each IdP behind, with its last fetch
}

func (e *BehindError) Error() string {
	names := make([]string, 0, len(e.IdPs))
	for _, f := range e.IdPs {
		names = append(names, fmt.Sprintf("%s (last fetch %s)", f.IdP, f.LastFetch.UTC().Format(time.RFC3339)))
	}
	return fmt.Sprintf("promote the next %s key: refused: %d IdP(s) have not fetched the metadata since it was published: %s; "+
		"wait until they do (samlkeyd rotate status), or promote anyway with --force (their logins fail until they re-fetch)",
		e.Use, len(e.IdPs), strings.Join(names, ", "))
}

// ManualOptions tune one manual rollover step. Nil fields take the
// defaults noted.
type ManualOptions struct {
	Actor   string           // audit actor (the operator, or the API token's name); "" = "rotation"
	Record  string           // Publish: the id or name of an existing record to publish instead of generating a key
	Replace bool             // Publish, encryption: list the next key instead of the current one (the policy's publish_mode otherwise)
	Force   bool             // Promote: even while some IdP has not fetched the metadata since publication
	Now     func() time.Time // nil = time.Now
	Rand    io.Reader        // the generated key; nil = crypto/rand
	Logger  *slog.Logger     // nil = discard
}

func (o *ManualOptions) fill() {
	if o.Actor == "" {
		o.Actor = actor
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// manual runs fn under use's lock after reconciling its states, with the
// use's effective policy.
func manual(ctx context.Context, cfg *config.Config, st Store, use keys.Use, o *ManualOptions,
	fn func(ctx context.Context, p Policy) error) error {
	if use != keys.UseSigning && use != keys.UseEncryption {
		return fmt.Errorf("rotation: use %q: want signing or encryption", use)
	}
	p, err := Effective(cfg, use)
	if err != nil {
		return err
	}
	o.fill()
	ran, err := st.WithLock(ctx, LockName(use), func(ctx context.Context) error {
		if err := reconcile(ctx, st, use, o.Logger); err != nil {
			return err
		}
		return fn(ctx, p)
	})
	if err == nil && !ran {
		err = fmt.Errorf("%s key: %w", use, ErrLocked)
	}
	return err
}

// Publish publishes a next key of use: a key generated under the use's
// effective policy, or the record o.Record names (active, with a private
// key fitting the use). The next signing key does not sign until Promote;
// a next encryption key decrypts at once. It returns the next key's record.
func Publish(ctx context.Context, cfg *config.Config, st Store, use keys.Use, o ManualOptions) (*store.Record, error) {
	var rec *store.Record
	err := manual(ctx, cfg, st, use, &o, func(ctx context.Context, p Policy) error {
		mode := store.PublishAdd
		if use == keys.UseEncryption && (o.Replace || p.PublishMode == store.PublishReplace) {
			mode = store.PublishReplace
		}
		if o.Replace && use != keys.UseEncryption {
			return fmt.Errorf("publish the next %s key: replace mode is for encryption keys only: %w", use, store.ErrInvalid)
		}
		var err error
		if o.Record != "" {
			rec, err = publishRecord(ctx, st, use, o.Record, mode, o.Actor, o.Now())
		} else {
			rec, err = publishGenerated(ctx, cfg, st, use, p, mode, &o)
		}
		if err != nil {
			return err
		}
		o.Logger.Info("next key published", "use", use, "key", rec.ID, "name", rec.Name, "mode", mode, "actor", o.Actor)
		return nil
	})
	return rec, err
}

// publishGenerated generates a next key of use under p, inside the token
// of the selected record when that is a pkcs11 record, and publishes it.
func publishGenerated(ctx context.Context, cfg *config.Config, st Store, use keys.Use, p Policy, mode string, o *ManualOptions) (*store.Record, error) {
	stored, err := readKeys(ctx, st, use)
	if err != nil {
		return nil, err
	}
	n, err := generateNext(cfg, selectedRecord(stored), use, p, o.Now(), o.Rand)
	if err != nil {
		return nil, err
	}
	return n.publish(ctx, func(ctx context.Context, nr store.NewRecord) (*store.Record, error) {
		return st.PublishNext(ctx, o.Actor, string(use), nr, mode)
	})
}

// publishRecord checks that the record ref (id or name) can serve use and
// publishes it as the next key.
func publishRecord(ctx context.Context, st Store, use keys.Use, ref, mode, who string, now time.Time) (*store.Record, error) {
	rec, err := st.Record(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		rec, err = st.RecordByName(ctx, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("publish record %q as the next %s key: %w", ref, use, err)
	}
	if err := fits(rec, use, now); err != nil {
		return nil, fmt.Errorf("publish record %s (%q) as the next %s key: %w", rec.ID, rec.Name, use, err)
	}
	if err := st.PublishRecord(ctx, who, string(use), rec.ID, mode); err != nil {
		return nil, err
	}
	return rec, nil
}

// fits checks a brought record: active, with a private key and a
// certificate valid now (metadata refuses to publish any other: the
// snapshot would not build), whose algorithm serves use (RSA or ECDSA
// signs; only RSA decrypts the key transport SAML IdPs use).
func fits(rec *store.Record, use keys.Use, now time.Time) error {
	if !rec.Active {
		return fmt.Errorf("%w: it is inactive (samlkeyd cert activate %s)", ErrUnfit, rec.ID)
	}
	leaf, err := keyLeaf(rec, use)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnfit, err)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: its certificate is valid from %s to %s, not now", ErrUnfit,
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey:
	case *ecdsa.PublicKey:
		if use == keys.UseEncryption {
			return fmt.Errorf("%w: an EC key cannot decrypt SAML key transport (RSA-OAEP): bring an RSA key", ErrUnfit)
		}
	default:
		return fmt.Errorf("%w: key type %T: want RSA or EC", ErrUnfit, leaf.PublicKey)
	}
	return nil
}

// keyLeaf returns the leaf certificate of rec's private key: a keystore's
// opened with its passwords (which proves the key is there), a pkcs11
// record's from its stored chain (cert add checked it against the token
// key; the daemon's self-test proves it again when it opens the token).
func keyLeaf(rec *store.Record, use keys.Use) (*x509.Certificate, error) {
	if rec.Type == store.TypePKCS11 {
		chain := rec.Chain()
		if len(chain) == 0 {
			return nil, fmt.Errorf("certificate record %s (%q) has no stored chain", rec.ID, rec.Name)
		}
		return chain[0], nil
	}
	c, err := rec.Credential(use)
	if err != nil {
		return nil, err
	}
	return c.Leaf(), nil
}

// Promote makes use's next key the active one (the old one is retired:
// still published and decrypting for retire_after). It is refused with a
// *BehindError while an IdP that fetched the metadata before has not
// fetched it since the next key was published, unless o.Force. It returns
// the promoted record id.
func Promote(ctx context.Context, cfg *config.Config, st Store, use keys.Use, o ManualOptions) (string, error) {
	var id string
	err := manual(ctx, cfg, st, use, &o, func(ctx context.Context, _ Policy) error {
		next, err := nextKey(ctx, st, use)
		if err != nil {
			return err
		}
		fetches, err := st.MetadataFetches(ctx)
		if err != nil {
			return err
		}
		var behind []IdPFetch
		for _, f := range fetches {
			if !FetchedNext(f, next.rec.FingerprintSHA256, next.row.PublishedAt) {
				behind = append(behind, IdPFetch{IdP: f.IdP, LastFetch: f.At})
			}
		}
		if len(behind) > 0 && !o.Force {
			return &BehindError{Use: use, IdPs: behind}
		}
		if err := st.Promote(ctx, o.Actor, string(use), next.row.RecordID); err != nil {
			return err
		}
		id = next.row.RecordID
		o.Logger.Info("next key promoted", "use", use, "key", id, "forced", len(behind) > 0, "actor", o.Actor)
		return nil
	})
	return id, err
}

// Cancel withdraws use's next key before its promotion: a generated key is
// deactivated with its record; a brought record stays active but is no
// longer published. It returns the withdrawn record id.
func Cancel(ctx context.Context, cfg *config.Config, st Store, use keys.Use, o ManualOptions) (string, error) {
	var id string
	err := manual(ctx, cfg, st, use, &o, func(ctx context.Context, _ Policy) error {
		next, err := nextKey(ctx, st, use)
		if err != nil {
			return err
		}
		if err := st.Cancel(ctx, o.Actor, string(use), next.row.RecordID); err != nil {
			return err
		}
		id = next.row.RecordID
		o.Logger.Info("next key withdrawn", "use", use, "key", id, "brought", next.row.Brought, "actor", o.Actor)
		return nil
	})
	return id, err
}

// nextKey returns use's next key, or ErrNoNext.
func nextKey(ctx context.Context, st Reader, use keys.Use) (*storedKey, error) {
	stored, err := readKeys(ctx, st, use)
	if err != nil {
		return nil, err
	}
	for i, k := range stored {
		if k.key().State == StateNext {
			return &stored[i], nil
		}
	}
	return nil, fmt.Errorf("%s key: %w", use, ErrNoNext)
}
