package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Property is one system property.
type Property struct {
	Name    string    `json:"name"`
	Value   string    `json:"value"`
	Updated time.Time `json:"updated"`
}

// IsKeystoreProperty reports whether the property named name selects a
// keystore record, so that its value must be the id of an active keystore.
func IsKeystoreProperty(name string) bool {
	return name == PropSigningKeystore || name == PropEncryptionKeystore
}

// Property returns the value of the property named name and whether it is
// set.
func (s *Store) Property(ctx context.Context, name string) (_ string, _ bool, err error) {
	ctx, done := s.call(ctx, "property")
	defer done(&err)
	var v string
	err = s.db.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read property %q: %w", name, err)
	}
	return v, true, nil
}

// Properties returns every set property, ordered by name.
func (s *Store) Properties(ctx context.Context) (_ []Property, err error) {
	ctx, done := s.call(ctx, "properties")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT name, value, updated FROM properties ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list properties: %w", err)
	}
	defer rows.Close()
	var out []Property
	for rows.Next() {
		var p Property
		var updated string
		if err := rows.Scan(&p.Name, &p.Value, &updated); err != nil {
			return nil, fmt.Errorf("list properties: %w", err)
		}
		if p.Updated, err = parseTime(updated); err != nil {
			return nil, fmt.Errorf("list properties: %q updated: %w", p.Name, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list properties: %w", err)
	}
	return out, nil
}

// SetProperty sets the property named name to value; an empty value clears
// it. A keystore property must name an active keystore record (ErrInvalid
// or ErrNotFound otherwise). Setting one property never touches another.
func (s *Store) SetProperty(ctx context.Context, actor, name, value string) (err error) {
	ctx, done := s.call(ctx, "set_property")
	defer done(&err)
	if name == "" || strings.ContainsAny(name, " \t\r\n") {
		return fmt.Errorf("set property %q: a property name is non-empty without white space: %w", name, ErrInvalid)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if value != "" && IsKeystoreProperty(name) {
			if err := s.checkKeystoreTarget(ctx, tx, value); err != nil {
				return err
			}
		}
		var old string
		err := tx.QueryRowContext(ctx, `SELECT value FROM properties WHERE name = $1`+s.d.forUpdate, name).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old == value {
			return nil
		}
		now := s.now()
		if value == "" {
			_, err = tx.ExecContext(ctx, `DELETE FROM properties WHERE name = $1`, name)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO properties (name, value, updated) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated = excluded.updated`, name, value, fmtTime(now))
		}
		if err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, now, actor, ActionPropertySet, name, old, value); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("set property %q: %w", name, err)
	}
	return nil
}

// checkKeystoreTarget refuses an id that is missing, inactive or not a
// keystore, locking the record on PostgreSQL so it cannot be deactivated or
// deleted before the property is written.
func (s *Store) checkKeystoreTarget(ctx context.Context, tx *sql.Tx, id string) error {
	var typ string
	var active bool
	err := tx.QueryRowContext(ctx, `SELECT type, active FROM records WHERE id = $1`+s.d.forUpdate, id).Scan(&typ, &active)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("record %q: %w (see samlkeyd cert list)", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	if !Type(typ).IsKeystore() {
		return fmt.Errorf("record %q is a %s, not a keystore (java_key_store, pkcs12 or pkcs11): %w", id, typ, ErrInvalid)
	}
	if !active {
		return fmt.Errorf("record %q is inactive: %w: activate it first (samlkeyd cert activate %s)", id, ErrInvalid, id)
	}
	return nil
}
