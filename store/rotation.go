package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// Audit actions of key rotation.
const (
	ActionRotationPublish    = "rotation.publish"    // object: record id; after: use
	ActionRotationPromote    = "rotation.promote"    // object: the use's property; before/after: record ids
	ActionRotationDeactivate = "rotation.deactivate" // object: record id
	ActionRotationCancel     = "rotation.cancel"     // object: record id; before: next
	ActionRotationReconcile  = "rotation.reconcile"  // object: the use's property; before/after: the states changed
)

// Publish modes of a next key (rotation.<use>.publish_mode).
const (
	PublishAdd     = "add"     // metadata lists the next key after the current one
	PublishReplace = "replace" // metadata lists the next encryption key instead of the current one
)

// Rotation states, as package lifecycle names them.
const (
	RotationNext     = "next"
	RotationActive   = "active"
	RotationRetired  = "retired"
	RotationInactive = "inactive"
)

// Rotation is where a certificate record stands in the key rollover of one
// use (signing or encryption).
type Rotation struct {
	RecordID    string    `json:"record_id"`
	Use         string    `json:"use"`
	State       string    `json:"state"`
	PublishedAt time.Time `json:"published_at"`
	PromotedAt  time.Time `json:"promoted_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	// PublishMode is how the key was published as next: PublishAdd or
	// PublishReplace ("" for rows older than the mode: add).
	PublishMode string `json:"publish_mode,omitempty"`
	// Brought: the operator published an existing record (PublishRecord)
	// rather than rotation generating it; cancelling it leaves it active.
	Brought bool `json:"brought,omitempty"`
}

func migrateV11(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	for _, q := range []string{
		`ALTER TABLE rotations ADD COLUMN publish_mode TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE rotations ADD COLUMN origin TEXT NOT NULL DEFAULT ''`,
	} {
		if _, err := tx.ExecContext(ctx, d.sql(q)); err != nil {
			return err
		}
	}
	return nil
}

// origins of a rotation row.
const (
	originGenerated = ""
	originBrought   = "brought"
)

func checkMode(mode string) error {
	if mode != "" && mode != PublishAdd && mode != PublishReplace {
		return fmt.Errorf("publish mode %q: want add or replace: %w", mode, ErrInvalid)
	}
	return nil
}

func migrateV5(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	_, err := tx.ExecContext(ctx, d.sql(`CREATE TABLE rotations (
		record_id    TEXT PRIMARY KEY,
		use_name     TEXT NOT NULL,
		state        TEXT NOT NULL,
		published_at TEXT NOT NULL,
		promoted_at  TEXT NOT NULL,
		retired_at   TEXT NOT NULL
	)`))
	return err
}

// UseProperty returns the keystore property of a use: signing or encryption.
func UseProperty(use string) (string, error) {
	switch use {
	case "signing":
		return PropSigningKeystore, nil
	case "encryption":
		return PropEncryptionKeystore, nil
	}
	return "", fmt.Errorf("use %q: want signing or encryption: %w", use, ErrInvalid)
}

// Rotations returns the rollover states of a use's records, oldest first.
func (s *Store) Rotations(ctx context.Context, use string) (_ []Rotation, err error) {
	ctx, done := s.call(ctx, "rotations")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT record_id, use_name, state, published_at, promoted_at, retired_at, publish_mode, origin
		FROM rotations WHERE use_name = $1 ORDER BY published_at, record_id`, use)
	if err != nil {
		return nil, fmt.Errorf("read rotations: %w", err)
	}
	defer rows.Close()
	var out []Rotation
	for rows.Next() {
		var r Rotation
		var pub, pro, ret, origin string
		if err := rows.Scan(&r.RecordID, &r.Use, &r.State, &pub, &pro, &ret, &r.PublishMode, &origin); err != nil {
			return nil, fmt.Errorf("read rotations: %w", err)
		}
		for _, f := range []struct {
			s string
			t *time.Time
		}{{pub, &r.PublishedAt}, {pro, &r.PromotedAt}, {ret, &r.RetiredAt}} {
			if *f.t, err = parseTime(f.s); err != nil {
				return nil, fmt.Errorf("read rotations: %w", err)
			}
		}
		r.Brought = origin == originBrought
		out = append(out, r)
	}
	return out, rows.Err()
}

// PublishNext stores a newly generated keystore as the next key of use,
// published in mode (PublishAdd or PublishReplace; "" is add), in one
// transaction with its rotation state. A use has at most one next key.
func (s *Store) PublishNext(ctx context.Context, actor, use string, r NewRecord, mode string) (_ *Record, err error) {
	ctx, done := s.call(ctx, "publish_next")
	defer done(&err)
	if _, err := UseProperty(use); err != nil {
		return nil, err
	}
	if err := checkMode(mode); err != nil {
		return nil, err
	}
	if r.ID == "" {
		id, err := newID(s.rand)
		if err != nil {
			return nil, err
		}
		r.ID = id
	}
	f, err := inspectNew(r) // a pkcs11 record (a key rotated inside its token) by its URI and chain
	if err != nil {
		return nil, fmt.Errorf("publish next %s key %q: %w: %w", use, r.Name, ErrInvalid, err)
	}
	now := s.now().UTC()
	rec := &Record{ID: r.ID, Name: r.Name, Type: r.Type, Active: true, Created: now, Updated: now,
		Data: append([]byte(nil), r.Data...), StorePassword: secret.New(r.StorePassword.Reveal()), KeyPassword: secret.New(r.KeyPassword.Reveal())}
	f.apply(rec)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := noNext(ctx, tx, use); err != nil {
			return err
		}
		ok, err := s.insertRecord(ctx, tx, rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("id %s or name %q: %w", rec.ID, rec.Name, ErrExists)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rotations (record_id, use_name, state, published_at, promoted_at, retired_at, publish_mode, origin)
			VALUES ($1, $2, $3, $4, '', '', $5, $6)`, rec.ID, use, RotationNext, fmtTime(now), mode, originGenerated); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionRotationPublish, rec.ID, "", use); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("publish next %s key %q: %w", use, r.Name, err)
	}
	return rec, nil
}

// Promote makes the next key of use (record id) the active one: in one
// transaction the use's property points at it and the key it replaces is
// retired (still published and decrypting for the policy's retire_after).
func (s *Store) Promote(ctx context.Context, actor, use, id string) (err error) {
	ctx, done := s.call(ctx, "promote")
	defer done(&err)
	prop, err := UseProperty(use)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM rotations WHERE record_id = $1 AND use_name = $2`+s.d.forUpdate, id, use).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != RotationNext) {
			return fmt.Errorf("record %s is not the next %s key: %w", id, use, ErrInvalid)
		}
		if err != nil {
			return err
		}
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`+s.d.forUpdate, prop).Scan(&old); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := fmtTime(s.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO properties (name, value, updated) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated`, prop, id, now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rotations SET state = $1, promoted_at = $2 WHERE record_id = $3`, RotationActive, now, id); err != nil {
			return err
		}
		if old != "" && old != id {
			// The replaced key may never have been rotated (a base keystore):
			// it gets its rotation row now.
			if _, err := tx.ExecContext(ctx, `INSERT INTO rotations (record_id, use_name, state, published_at, promoted_at, retired_at)
				VALUES ($1, $2, $3, '', '', $4)
				ON CONFLICT (record_id) DO UPDATE SET state = excluded.state, retired_at = excluded.retired_at`,
				old, use, RotationRetired, now); err != nil {
				return err
			}
		}
		if err := writeAudit(ctx, tx, s.now(), actor, ActionRotationPromote, prop, old, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("promote %s key %s: %w", use, id, err)
	}
	return nil
}

// Deactivate ends a retired key's grace period: its rotation state becomes
// inactive and its record inactive, in one transaction.
func (s *Store) Deactivate(ctx context.Context, actor, id string) (err error) {
	ctx, done := s.call(ctx, "deactivate")
	defer done(&err)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, `SELECT state FROM rotations WHERE record_id = $1`+s.d.forUpdate, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != RotationRetired) {
			return fmt.Errorf("record %s is not a retired key: %w", id, ErrInvalid)
		}
		if err != nil {
			return err
		}
		if props, err := propertiesPointingAt(ctx, tx, id); err != nil {
			return err
		} else if len(props) > 0 {
			return fmt.Errorf("record %s is still selected by %s: %w", id, strings.Join(props, ", "), ErrInUse)
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `UPDATE rotations SET state = $1 WHERE record_id = $2`, RotationInactive, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE records SET active = $1, updated = $2, version = version + 1 WHERE id = $3`, false, fmtTime(now), id); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionRotationDeactivate, id, RotationRetired, RotationInactive); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("deactivate key %s: %w", id, err)
	}
	return nil
}

// noNext refuses a second next key of use.
func noNext(ctx context.Context, tx *sql.Tx, use string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM rotations WHERE use_name = $1 AND state = $2`, use, RotationNext).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("a next %s key is already published: %w", use, ErrExists)
	}
	return nil
}

// PublishRecord publishes an existing certificate record (one the operator
// brings, e.g. CA-signed) as the next key of use, in mode. The record must
// be active, not selected by the use's property, and not part of the other
// use's rollover. Whether its key fits the use is the caller's check.
func (s *Store) PublishRecord(ctx context.Context, actor, use, id, mode string) (err error) {
	ctx, done := s.call(ctx, "publish_record")
	defer done(&err)
	prop, err := UseProperty(use)
	if err != nil {
		return err
	}
	if err := checkMode(mode); err != nil {
		return err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := noNext(ctx, tx, use); err != nil {
			return err
		}
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM records WHERE id = $1`+s.d.forUpdate, id).Scan(&active)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("record %s: %w", id, ErrNotFound)
		case err != nil:
			return err
		case !active:
			return fmt.Errorf("record %s is inactive (samlkeyd cert activate %s): %w", id, id, ErrInvalid)
		}
		var selected string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`+s.d.forUpdate, prop).Scan(&selected); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if selected == id {
			return fmt.Errorf("record %s is the current %s key (%s): %w", id, use, prop, ErrInvalid)
		}
		var otherUse, state string
		err = tx.QueryRowContext(ctx, `SELECT use_name, state FROM rotations WHERE record_id = $1`+s.d.forUpdate, id).Scan(&otherUse, &state)
		if err == nil && otherUse != use && state != RotationInactive {
			return fmt.Errorf("record %s is a %s %s key: %w", id, state, otherUse, ErrInUse)
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := s.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO rotations (record_id, use_name, state, published_at, promoted_at, retired_at, publish_mode, origin)
			VALUES ($1, $2, $3, $4, '', '', $5, $6)
			ON CONFLICT (record_id) DO UPDATE SET use_name = excluded.use_name, state = excluded.state, published_at = excluded.published_at,
				promoted_at = '', retired_at = '', publish_mode = excluded.publish_mode, origin = excluded.origin`,
			id, use, RotationNext, fmtTime(now), mode, originBrought); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionRotationPublish, id, "", use); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("publish record %s as the next %s key: %w", id, use, err)
	}
	return nil
}

// Cancel withdraws the next key of use (record id) before its promotion:
// a generated key becomes inactive with its record; a brought record keeps
// its record active and loses its rotation row. One transaction.
func (s *Store) Cancel(ctx context.Context, actor, use, id string) (err error) {
	ctx, done := s.call(ctx, "cancel")
	defer done(&err)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var state, origin string
		err := tx.QueryRowContext(ctx, `SELECT state, origin FROM rotations WHERE record_id = $1 AND use_name = $2`+s.d.forUpdate, id, use).Scan(&state, &origin)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && state != RotationNext) {
			return fmt.Errorf("record %s is not the next %s key: %w", id, use, ErrInvalid)
		}
		if err != nil {
			return err
		}
		now := s.now()
		after := RotationInactive
		if origin == originBrought {
			after = "withdrawn"
			if _, err := tx.ExecContext(ctx, `DELETE FROM rotations WHERE record_id = $1`, id); err != nil {
				return err
			}
		} else {
			if _, err := tx.ExecContext(ctx, `UPDATE rotations SET state = $1 WHERE record_id = $2`, RotationInactive, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE records SET active = $1, updated = $2, version = version + 1 WHERE id = $3`, false, fmtTime(now), id); err != nil {
				return err
			}
		}
		if err := writeAudit(ctx, tx, now, actor, ActionRotationCancel, id, RotationNext, after); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("cancel next %s key %s: %w", use, id, err)
	}
	return nil
}

// Reconcile makes use's rotation states agree with its keystore property
// after the property was moved by hand: the record it selects becomes the
// active key (from next or retired) and any other active key is retired
// now. One transaction, audited; changed is false when they agreed.
func (s *Store) Reconcile(ctx context.Context, actor, use string) (changed bool, err error) {
	ctx, done := s.call(ctx, "reconcile")
	defer done(&err)
	prop, err := UseProperty(use)
	if err != nil {
		return false, err
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		changed = false
		var selected string
		if err := tx.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`+s.d.forUpdate, prop).Scan(&selected); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := fmtTime(s.now())
		var fixed []string
		res, err := tx.ExecContext(ctx, `UPDATE rotations SET state = $1, retired_at = $2 WHERE use_name = $3 AND state = $4 AND record_id <> $5`,
			RotationRetired, now, use, RotationActive, selected)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			fixed = append(fixed, fmt.Sprintf("%d active key(s) not selected: retired", n))
		}
		var state string
		err = tx.QueryRowContext(ctx, `SELECT state FROM rotations WHERE record_id = $1 AND use_name = $2`+s.d.forUpdate, selected, use).Scan(&state)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if state == RotationNext || state == RotationRetired {
			if _, err := tx.ExecContext(ctx, `UPDATE rotations SET state = $1, promoted_at = $2, retired_at = '' WHERE record_id = $3`,
				RotationActive, now, selected); err != nil {
				return err
			}
			fixed = append(fixed, fmt.Sprintf("selected key %s: %s → active", selected, state))
		}
		if len(fixed) == 0 {
			return nil
		}
		changed = true
		if err := writeAudit(ctx, tx, s.now(), actor, ActionRotationReconcile, prop, "", strings.Join(fixed, "; ")); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return false, fmt.Errorf("reconcile %s rotation with %s: %w", use, prop, err)
	}
	return changed, nil
}
