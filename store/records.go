package store

import (
	"bytes"
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
	TypePKCS11         Type = "pkcs11"           // a key in a PKCS#11 token: the URI (and chain) in data, the PIN sealed as the store password
)

// Types lists the record types in documentation order.
func Types() []Type {
	return []Type{TypeJavaKeyStore, TypePKCS12, TypePEM, TypeTrustStoreCert, TypePKCS11}
}

// IsKeystore reports whether records of type t hold a private key a
// keystore property may select.
func (t Type) IsKeystore() bool {
	return t == TypeJavaKeyStore || t == TypePKCS12 || t == TypePKCS11
}

// Record is one certificate record. Its passwords and data are unsealed;
// the passwords are secret.Values and never print. JSON carries no file
// bytes and no passwords.
//
// The public facts (ChainDER and what is derived from its leaf) are stored
// when the record is added, so reading them never opens the keystore. A
// record listed by RecordFacts has no Data and no passwords.
type Record struct {
	ID                string      `json:"id"`
	Name              string      `json:"name"`
	Type              Type        `json:"type"`
	Format            keys.Format `json:"format"`
	Active            bool        `json:"active"`
	Alias             string      `json:"alias"`
	NotAfter          time.Time   `json:"not_after"`
	FingerprintSHA256 string      `json:"fingerprint_sha256"`
	Created           time.Time   `json:"created"`
	Updated           time.Time   `json:"updated"`
	// FingerprintSHA1 is the leaf's lowercase hex SHA-1 (what keytool and
	// many IdP consoles show). Subject and Issuer are the leaf's names as
	// x509.Name.String writes them, Serial its serial number in lowercase
	// hex.
	FingerprintSHA1 string `json:"-"`
	Subject         string `json:"-"`
	Issuer          string `json:"-"`
	Serial          string `json:"-"`
	// ChainDER is the public certificate chain, leaf first: the private-key
	// entry's chain, or every certificate of a file without a key.
	ChainDER [][]byte `json:"-"`
	// Version grows whenever the row changes (activated, deactivated,
	// retired), and a record deleted and added again under its id starts
	// above every version it had: cache what is parsed from a record by
	// (ID, Version).
	Version       int64        `json:"-"`
	Data          []byte       `json:"-"`
	StorePassword secret.Value `json:"-"`
	KeyPassword   secret.Value `json:"-"`
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
	// Chain is a pkcs11 record's certificate chain, leaf first, as the
	// caller read it from the opened token (store never opens a token: it
	// has no module path). Data is then the record's URI, StorePassword
	// its PIN. Other types ignore Chain and are inspected from Data.
	Chain []*x509.Certificate
}

// facts is what validation learns from a record's content.
type facts struct {
	format      keys.Format
	alias       string
	chain       []*x509.Certificate // the private-key entry's chain, leaf first; or every certificate of a file without a key
	notAfter    time.Time           // the leaf's
	fingerprint string              // the leaf's SHA-256
}

// inspect validates data as a record of type t with the keys package and
// returns what it found, or the reason it is refused.
func inspect(t Type, data []byte, alias string, storePass, keyPass secret.Value) (facts, error) {
	if t == TypePKCS11 {
		return facts{}, errors.New("a pkcs11 record's chain is read from the token by the caller (NewRecord.Chain)")
	}
	ks, err := keys.Parse(data, storePass, keyPass)
	if err != nil {
		return facts{}, err
	}
	f := facts{format: ks.Format}
	switch t {
	case TypeJavaKeyStore, TypePKCS12:
		if ks.Format != keys.FormatJKS && ks.Format != keys.FormatPKCS12 {
			return facts{}, fmt.Errorf("type %s needs a JKS or PKCS#12 keystore, the file is %s", t, ks.Format)
		}
		e, err := ks.PrivateKeyEntry(alias)
		if err != nil {
			return facts{}, err
		}
		f.alias, f.chain = e.Alias, e.Chain
	case TypePEM:
		if ks.Format != keys.FormatPEM {
			return facts{}, fmt.Errorf("type pem needs a PEM file, the file is %s", ks.Format)
		}
		if e, err := ks.PrivateKeyEntry(alias); err == nil {
			f.alias, f.chain = e.Alias, e.Chain
		} else {
			f.chain = allCertificates(ks)
		}
	case TypeTrustStoreCert:
		for _, e := range ks.Entries {
			if e.IsPrivateKey() {
				return facts{}, errors.New("a trust_store_cert record holds a certificate only, this file has a private key: add it as a keystore (java_key_store, pkcs12 or pem)")
			}
		}
		f.chain = allCertificates(ks)
	default:
		return facts{}, fmt.Errorf("type %q: use one of java_key_store, pkcs12, pem, trust_store_cert, pkcs11", t)
	}
	if len(f.chain) == 0 {
		return facts{}, errors.New("the file holds no certificate")
	}
	f.notAfter = f.chain[0].NotAfter.UTC()
	f.fingerprint = keys.FingerprintSHA256(f.chain[0])
	return f, nil
}

// allCertificates returns the certificates of every entry, in file order.
func allCertificates(ks *keys.Keystore) []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range ks.Entries {
		out = append(out, e.Chain...)
	}
	return out
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
func (s *Store) AddRecord(ctx context.Context, actor string, r NewRecord) (_ *Record, err error) {
	ctx, done := s.call(ctx, "add_record")
	defer done(&err)
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
	f, err := inspectNew(r)
	if err != nil {
		return nil, fmt.Errorf("add record %q: %w: %w", r.Name, ErrInvalid, err)
	}
	now := s.now().UTC()
	rec := &Record{
		ID: r.ID, Name: r.Name, Type: r.Type, Active: !r.Inactive, Created: now, Updated: now,
		Data:          append([]byte(nil), r.Data...),
		StorePassword: secret.New(r.StorePassword.Reveal()),
		KeyPassword:   secret.New(r.KeyPassword.Reveal()),
	}
	f.apply(rec)
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
// whether it did. Its passwords are sealed, and so is its data when it holds
// a private key in clear (a PEM file).
func (s *Store) insertRecord(ctx context.Context, tx *sql.Tx, rec *Record) (bool, error) {
	sp, err := s.seal(rec.StorePassword.Reveal(), sealAAD(rec.ID, "store_password"))
	if err != nil {
		return false, err
	}
	kp, err := s.seal(rec.KeyPassword.Reveal(), sealAAD(rec.ID, "key_password"))
	if err != nil {
		return false, err
	}
	data, state := rec.Data, dataPlain
	if holdsClearKey(rec.Format, rec.Data) {
		if data, err = s.seal(rec.Data, sealAAD(rec.ID, "data")); err != nil {
			return false, err
		}
		state = dataSealed
	}
	// A record's first version is the change counter this insert moves it
	// to: a record deleted and added again under its id never gets a
	// version it had before, so caches keyed by (id, version) stay right.
	var counter int64
	if err := tx.QueryRowContext(ctx, `SELECT counter FROM changes WHERE id = 1`).Scan(&counter); err != nil {
		return false, err
	}
	rec.Version = counter + 1
	if len(rec.ChainDER) == 0 { // a caller that built the Record itself (base keystores)
		f, err := inspect(rec.Type, rec.Data, rec.Alias, rec.StorePassword, rec.KeyPassword)
		if err != nil {
			return false, fmt.Errorf("record %s facts: %w", rec.ID, err)
		}
		f.apply(rec)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO records
		(id, name, type, format, active, data, alias, store_password, key_password, not_after, fingerprint_sha256, created, updated,
		 chain, fingerprint_sha1, subject, issuer, serial, version, data_sealed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) ON CONFLICT DO NOTHING`,
		rec.ID, rec.Name, string(rec.Type), string(rec.Format), rec.Active, data, rec.Alias, sp, kp,
		fmtTime(rec.NotAfter), rec.FingerprintSHA256, fmtTime(rec.Created), fmtTime(rec.Updated),
		bytes.Join(rec.ChainDER, nil), rec.FingerprintSHA1, rec.Subject, rec.Issuer, rec.Serial, rec.Version, state)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// sealAAD binds a sealed value to its record and column, so a sealed value
// copied to another record does not unseal.
func sealAAD(id, column string) string { return "record " + id + " " + column }

// Records returns every certificate record, ordered by name.
func (s *Store) Records(ctx context.Context) (_ []*Record, err error) {
	ctx, done := s.call(ctx, "records")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT `+recordColumns+` FROM records ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, _, err := s.scanRecord(rows)
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
func (s *Store) Record(ctx context.Context, id string) (_ *Record, err error) {
	ctx, done := s.call(ctx, "record")
	defer done(&err)
	return s.record(ctx, id)
}

func (s *Store) record(ctx context.Context, id string) (*Record, error) {
	r, _, err := s.scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM records WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %q: %w", id, err)
	}
	return r, nil
}

// RecordByName returns the record named name, or ErrNotFound.
func (s *Store) RecordByName(ctx context.Context, name string) (_ *Record, err error) {
	ctx, done := s.call(ctx, "record_by_name")
	defer done(&err)
	r, _, err := s.scanRecord(s.db.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM records WHERE name = $1`, name))
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
func (s *Store) SetActive(ctx context.Context, actor, id string, active bool) (err error) {
	ctx, done := s.call(ctx, "set_active")
	defer done(&err)
	op := "activate"
	if !active {
		op = "deactivate"
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
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
		if _, err := tx.ExecContext(ctx, `UPDATE records SET active = $1, updated = $2, version = version + 1 WHERE id = $3`,
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
func (s *Store) DeleteRecord(ctx context.Context, actor, id string) (err error) {
	ctx, done := s.call(ctx, "delete_record")
	defer done(&err)
	err = s.tx(ctx, func(tx *sql.Tx) error {
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
// at the store's clock: a keystore (or a PEM record with a private key)
// with keys.Validate, a trusted certificate with keys.ValidateTrustStore.
func (s *Store) ValidateRecord(ctx context.Context, id string) (_ *Validation, err error) {
	ctx, done := s.call(ctx, "validate_record")
	defer done(&err)
	r, err := s.record(ctx, id)
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
	if !r.Type.IsKeystore() && !hasPrivateKey(ks) {
		// A trusted certificate (or a PEM record without its key) is
		// checked as one, not as a keystore that lacks a key.
		rep = keys.ValidateTrustStore(ks, s.now())
	}
	v.Report.Problems = append(v.Report.Problems, rep.Problems...)
	v.Report.Warnings = append(v.Report.Warnings, rep.Warnings...)
	return v, nil
}

// hasPrivateKey reports whether ks holds a private-key entry.
func hasPrivateKey(ks *keys.Keystore) bool {
	for _, e := range ks.Entries {
		if e.IsPrivateKey() || e.Sealed {
			return true
		}
	}
	return false
}
