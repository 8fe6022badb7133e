package store

import (
	"context"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// Type is what a certificate record holds, as the certificate table names it.
type Type string

// The record types.
const (
	TypeJavaKeyStore   Type = "java_key_store"   // a keystore with a private key (JKS or PKCS#12 file)
	TypePKCS12         Type = "pkcs12"           // a PKCS#12 keystore with a private key
	TypePEM            Type = "pem"              // PEM: a certificate chain, optionally with its private key
	TypeTrustStoreCert Type = "trust_store_cert" // a trusted certificate (PEM or DER), never a private key
)

// Types lists the record types in documentation order.
func Types() []Type { return []Type{TypeJavaKeyStore, TypePKCS12, TypePEM, TypeTrustStoreCert} }

// IsKeystore reports whether records of type t hold a private key a
// keystore property may select.
func (t Type) IsKeystore() bool { return t == TypeJavaKeyStore || t == TypePKCS12 }

// Record is one certificate record. Its passwords are unsealed; they are
// secret.Values and never print. JSON carries no file bytes and no
// passwords.
type Record struct {
	ID                string       `json:"id"`
	Name              string       `json:"name"`
	Type              Type         `json:"type"`
	Format            keys.Format  `json:"format"`
	Active            bool         `json:"active"`
	Alias             string       `json:"alias"`
	NotAfter          time.Time    `json:"not_after"`
	FingerprintSHA256 string       `json:"fingerprint_sha256"`
	Created           time.Time    `json:"created"`
	Updated           time.Time    `json:"updated"`
	Data              []byte       `json:"-"`
	StorePassword     secret.Value `json:"-"`
	KeyPassword       secret.Value `json:"-"`
}

// NewRecord is what AddRecord stores. ID is generated when empty.
type NewRecord struct {
	ID            string
	Name          string
	Type          Type
	Inactive      bool // records are active unless this is set
	Data          []byte
	Alias         string // the private-key entry; "" picks the only one
	StorePassword secret.Value
	KeyPassword   secret.Value // "" means the store password, as keytool
}

// facts is what validation learns from a record's content.
type facts struct {
	format      keys.Format
	alias       string
	notAfter    time.Time
	fingerprint string
}

// inspect validates data as a record of type t with the keys package and
// returns what it found, or the reason it is refused.
func inspect(t Type, data []byte, alias string, storePass, keyPass secret.Value) (facts, error) {
	ks, err := keys.Parse(data, storePass, keyPass)
	if err != nil {
		return facts{}, err
	}
	var leaf *x509.Certificate
	var f facts
	f.format = ks.Format
	switch t {
	case TypeJavaKeyStore, TypePKCS12:
		if ks.Format != keys.FormatJKS && ks.Format != keys.FormatPKCS12 {
			return facts{}, fmt.Errorf("type %s needs a JKS or PKCS#12 keystore, the file is %s", t, ks.Format)
		}
		e, err := ks.PrivateKeyEntry(alias)
		if err != nil {
			return facts{}, err
		}
		f.alias, leaf = e.Alias, e.Leaf()
	case TypePEM:
		if ks.Format != keys.FormatPEM {
			return facts{}, fmt.Errorf("type pem needs a PEM file, the file is %s", ks.Format)
		}
		if e, err := ks.PrivateKeyEntry(alias); err == nil {
			f.alias, leaf = e.Alias, e.Leaf()
		} else if len(ks.Entries) > 0 {
			leaf = ks.Entries[0].Leaf()
		}
	case TypeTrustStoreCert:
		for _, e := range ks.Entries {
			if e.IsPrivateKey() {
				return facts{}, errors.New("a trust_store_cert record holds a certificate only, this file has a private key: add it as a keystore (java_key_store, pkcs12 or pem)")
			}
		}
		if len(ks.Entries) > 0 {
			leaf = ks.Entries[0].Leaf()
		}
	default:
		return facts{}, fmt.Errorf("type %q: use one of java_key_store, pkcs12, pem, trust_store_cert", t)
	}
	if leaf == nil {
		return facts{}, errors.New("the file holds no certificate")
	}
	f.notAfter = leaf.NotAfter.UTC()
	f.fingerprint = keys.FingerprintSHA256(leaf)
	return f, nil
}

// ValidID reports whether id is a record id: 32 lowercase hex digits.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// newID returns 16 random bytes as 32 lowercase hex digits.
func newID(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("record id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// AddRecord validates r with the keys package and stores it. A keystore that
// does not open, or a trust-store certificate with a private key, is refused
// with the reason (ErrInvalid); a taken id or name gives ErrExists.
func (s *Store) AddRecord(ctx context.Context, actor string, r NewRecord) (*Record, error) {
	if strings.TrimSpace(r.Name) == "" {
		return nil, fmt.Errorf("add record: name is empty: %w", ErrInvalid)
	}
	if r.ID == "" {
		id, err := newID(s.rand)
		if err != nil {
			return nil, fmt.Errorf("add record %q: %w", r.Name, err)
		}
		r.ID = id
	} else if !ValidID(r.ID) {
		return nil, fmt.Errorf("add record %q: id %q is not 32 lowercase hex digits: %w", r.Name, r.ID, ErrInvalid)
	}
	f, err := inspect(r.Type, r.Data, r.Alias, r.StorePassword, r.KeyPassword)
	if err != nil {
		return nil, fmt.Errorf("add record %q: %w: %w", r.Name, ErrInvalid, err)
	}
	now := s.now().UTC()
	rec := &Record{
		ID: r.ID, Name: r.Name, Type: r.Type, Format: f.format, Active: !r.Inactive,
		Alias: f.alias, NotAfter: f.notAfter, FingerprintSHA256: f.fingerprint,
		Created: now, Updated: now,
		Data:          append([]byte(nil), r.Data...),
		StorePassword: secret.New(r.StorePassword.Reveal()),
		KeyPassword:   secret.New(r.KeyPassword.Reveal()),
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ok, err := s.insertRecord(ctx, tx, rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("id %s or name %q: %w", rec.ID, rec.Name, ErrExists)
		}
		if err := writeAudit(ctx, tx, now, actor, ActionRecordAdd, rec.ID, "", rec.Name); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("add record %q: %w", r.Name, err)
	}
	return rec, nil
}

// insertRecord inserts rec unless its id or name is taken, and reports
// whether it did.
func (s *Store) insertRecord(ctx context.Context, tx *sql.Tx, rec *Record) (bool, error) {
	sp, err := s.seal(rec.StorePassword.Reveal(), sealAAD(rec.ID, "store_password"))
	if err != nil {
		return false, err
	}
	kp, err := s.seal(rec.KeyPassword.Reveal(), sealAAD(rec.ID, "key_password"))
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO records
		(id, name, type, format, active, data, alias, store_password, key_password, not_after, fingerprint_sha256, created, updated)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
		rec.ID, rec.Name, string(rec.Type), string(rec.Format), rec.Active, rec.Data, rec.Alias, sp, kp,
		fmtTime(rec.NotAfter), rec.FingerprintSHA256, fmtTime(rec.Created), fmtTime(rec.Updated))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// sealAAD binds a sealed password to its record and column, so a sealed
// value copied to another record does not unseal.
func sealAAD(id, column string) string { return "record " + id + " " + column }

const recordColumns = `id, name, type, format, active, data, alias, store_password, key_password, not_after, fingerprint_sha256, created, updated`

// scanRecord reads one row of recordColumns and unseals its passwords.
func (s *Store) scanRecord(row interface{ Scan(...any) error }) (*Record, error) {
	var r Record
	var typ, format, notAfter, created, updated string
	var sp, kp []byte
	if err := row.Scan(&r.ID, &r.Name, &typ, &format, &r.Active, &r.Data, &r.Alias, &sp, &kp,
		&notAfter, &r.FingerprintSHA256, &created, &updated); err != nil {
		return nil, err
	}
	r.Type, r.Format = Type(typ), keys.Format(format)
	var err error
	if r.NotAfter, err = parseTime(notAfter); err != nil {
		return nil, fmt.Errorf("record %s: not_after: %w", r.ID, err)
	}
	if r.Created, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("record %s: created: %w", r.ID, err)
	}
	if r.Updated, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("record %s: updated: %w", r.ID, err)
	}
	if r.StorePassword, err = s.unseal(sp, sealAAD(r.ID, "store_password")); err != nil {
		return nil, fmt.Errorf("record %s store password: %w", r.ID, err)
	}
	if r.KeyPassword, err = s.unseal(kp, sealAAD(r.ID, "key_password")); err != nil {
		return nil, fmt.Errorf("record %s key password: %w", r.ID, err)
	}
	return &r, nil
}

// Records returns every certificate record, ordered by name.
func (s *Store) Records(ctx context.Context) ([]*Record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+recordColumns+` FROM records ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := s.scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// Record returns the record with id, or ErrNotFound.
func (s *Store) Record(ctx context.Context, id string) (*Record, error) {
	r, err := s.scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM records WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %q: %w", id, err)
	}
	return r, nil
}

// RecordByName returns the record named name, or ErrNotFound.
func (s *Store) RecordByName(ctx context.Context, name string) (*Record, error) {
	r, err := s.scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM records WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("record named %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record named %q: %w", name, err)
	}
	return r, nil
}

// SetActive activates or deactivates a record. Deactivating a record a
// keystore property selects is refused (ErrInUse): point the property
// elsewhere first.
func (s *Store) SetActive(ctx context.Context, actor, id string, active bool) error {
	op := "activate"
	if !active {
		op = "deactivate"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var was bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM records WHERE id = $1`+s.d.forUpdate, id).Scan(&was)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if was == active {
			return nil
		}
		if !active {
			if names, err := propertiesPointingAt(ctx, tx, id); err != nil {
				return err
			} else if len(names) > 0 {
				return fmt.Errorf("%w %s: set the property to another keystore first", ErrInUse, strings.Join(names, ", "))
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE records SET active = $1, updated = $2 WHERE id = $3`,
			active, fmtTime(s.now()), id); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, s.now(), actor, "record."+op, id, activeWord(was), activeWord(active)); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("%s record %q: %w", op, id, err)
	}
	return nil
}

func activeWord(b bool) string {
	if b {
		return "active"
	}
	return "inactive"
}

// DeleteRecord deletes a record. A record a property points to is refused
// (ErrInUse).
func (s *Store) DeleteRecord(ctx context.Context, actor, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `SELECT name FROM records WHERE id = $1`+s.d.forUpdate, id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if names, err := propertiesPointingAt(ctx, tx, id); err != nil {
			return err
		} else if len(names) > 0 {
			return fmt.Errorf("%w %s: set the property to another record first", ErrInUse, strings.Join(names, ", "))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id = $1`, id); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, s.now(), actor, ActionRecordDelete, id, name, ""); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete record %q: %w", id, err)
	}
	return nil
}

// propertiesPointingAt returns the names of the properties whose value is
// id, locking them on PostgreSQL.
func propertiesPointingAt(ctx context.Context, tx *sql.Tx, id string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM properties WHERE value = $1 ORDER BY name`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Validation is the outcome of ValidateRecord.
type Validation struct {
	Record *Record
	Report keys.Report
}

// ValidateRecord opens a record's content with its passwords and checks it
// with keys.Validate at the store's clock.
func (s *Store) ValidateRecord(ctx context.Context, id string) (*Validation, error) {
	r, err := s.Record(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &Validation{Record: r}
	ks, err := r.Parse()
	if err != nil {
		v.Report.Problems = append(v.Report.Problems, err.Error())
		return v, nil
	}
	if _, err := inspect(r.Type, r.Data, r.Alias, r.StorePassword, r.KeyPassword); err != nil {
		v.Report.Problems = append(v.Report.Problems, err.Error())
	}
	rep := keys.Validate(ks, s.now())
	v.Report.Problems = append(v.Report.Problems, rep.Problems...)
	v.Report.Warnings = append(v.Report.Warnings, rep.Warnings...)
	return v, nil
}
