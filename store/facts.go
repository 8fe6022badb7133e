package store

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
)

// migrateV7 adds the public facts of a record beside its sealed content:
// the certificate chain (concatenated DER), the SHA-1 fingerprint, subject,
// issuer, serial, and a version that grows on every change of the row.
// Records stored before have an empty chain; Open fills it in with the
// master key (completeRecords), because a migration runs without it.
func migrateV7(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	for _, q := range []string{
		`ALTER TABLE records ADD COLUMN chain {{blob}} NOT NULL DEFAULT ''`,
		`ALTER TABLE records ADD COLUMN fingerprint_sha1 TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE records ADD COLUMN subject TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE records ADD COLUMN issuer TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE records ADD COLUMN serial TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE records ADD COLUMN version BIGINT NOT NULL DEFAULT 1`,
	} {
		if _, err := tx.ExecContext(ctx, d.sql(q)); err != nil {
			return err
		}
	}
	return nil
}

// apply sets the public facts of r from f.
func (f facts) apply(r *Record) {
	leaf := f.chain[0]
	r.Format, r.Alias = f.format, f.alias
	r.NotAfter = leaf.NotAfter.UTC()
	r.FingerprintSHA256 = keys.FingerprintSHA256(leaf)
	sum := sha1.Sum(leaf.Raw)
	r.FingerprintSHA1 = hex.EncodeToString(sum[:])
	r.Subject, r.Issuer = leaf.Subject.String(), leaf.Issuer.String()
	r.Serial = leaf.SerialNumber.Text(16)
	r.ChainDER = make([][]byte, len(f.chain))
	for i, c := range f.chain {
		r.ChainDER[i] = c.Raw
	}
}

// Chain returns the record's public certificate chain, leaf first, parsed
// from the stored DER without opening the keystore. It is nil for a record
// whose facts could not be stored (see Open).
func (r *Record) Chain() []*x509.Certificate {
	certs, err := x509.ParseCertificates(bytes.Join(r.ChainDER, nil))
	if err != nil {
		return nil
	}
	return certs
}

// splitDER splits concatenated DER certificates as the chain column holds
// them. A corrupt column gives nil.
func splitDER(b []byte) [][]byte {
	certs, err := x509.ParseCertificates(b)
	if err != nil {
		return nil
	}
	out := make([][]byte, len(certs))
	for i, c := range certs {
		out[i] = c.Raw
	}
	return out
}

// factColumns are the columns of a record's public facts; recordColumns
// add its (sealed) content.
const (
	factColumns   = `id, name, type, format, active, alias, not_after, fingerprint_sha256, created, updated, chain, fingerprint_sha1, subject, issuer, serial, version`
	recordColumns = factColumns + `, data, store_password, key_password, data_sealed`
)

// scanFacts reads one row of factColumns.
func scanFacts(row interface{ Scan(...any) error }, extra ...any) (*Record, error) {
	var r Record
	var typ, format, notAfter, created, updated string
	var chain []byte
	dest := []any{&r.ID, &r.Name, &typ, &format, &r.Active, &r.Alias, &notAfter, &r.FingerprintSHA256, &created, &updated,
		&chain, &r.FingerprintSHA1, &r.Subject, &r.Issuer, &r.Serial, &r.Version}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	r.Type, r.Format = Type(typ), keys.Format(format)
	r.ChainDER = splitDER(chain)
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
	return &r, nil
}

// scanRecord reads one row of recordColumns, unseals its passwords and
// data, and returns the row's data_sealed state.
func (s *Store) scanRecord(row interface{ Scan(...any) error }) (*Record, int, error) {
	var sp, kp []byte
	var state int
	var data []byte
	r, err := scanFacts(row, &data, &sp, &kp, &state)
	if err != nil {
		return nil, 0, err
	}
	if r.StorePassword, err = s.unseal(sp, sealAAD(r.ID, "store_password")); err != nil {
		return nil, 0, fmt.Errorf("record %s store password: %w", r.ID, err)
	}
	if r.KeyPassword, err = s.unseal(kp, sealAAD(r.ID, "key_password")); err != nil {
		return nil, 0, fmt.Errorf("record %s key password: %w", r.ID, err)
	}
	if r.Data, err = s.unsealData(r.ID, data, state); err != nil {
		return nil, 0, err
	}
	return r, state, nil
}

// RecordFacts returns every record's public facts, ordered by name, without
// reading or unsealing any content: Data and the passwords are empty. It is
// what builds, metrics and expiry scans read; open a record in use with
// Record, and cache what it gives by (ID, Version).
func (s *Store) RecordFacts(ctx context.Context) (_ []*Record, err error) {
	ctx, done := s.call(ctx, "record_facts")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT `+factColumns+` FROM records ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list record facts: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanFacts(rows)
		if err != nil {
			return nil, fmt.Errorf("list record facts: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list record facts: %w", err)
	}
	return out, nil
}

// RecordVersions returns every record's id and version, ordered as
// RecordFacts orders them: one narrow read, for a caller holding facts
// from an earlier listing to tell whether any record was added, changed
// or removed since (a record's facts change only with its version).
func (s *Store) RecordVersions(ctx context.Context) (_ []RecordVersion, err error) {
	ctx, done := s.call(ctx, "record_versions")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT id, version FROM records ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("list record versions: %w", err)
	}
	defer rows.Close()
	var out []RecordVersion
	for rows.Next() {
		var v RecordVersion
		if err := rows.Scan(&v.ID, &v.Version); err != nil {
			return nil, fmt.Errorf("list record versions: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list record versions: %w", err)
	}
	return out, nil
}

// RecordVersion is a record's id and version (see Record.Version).
type RecordVersion struct {
	ID      string
	Version int64
}

// RecordVersion returns the version of the record with id (ErrNotFound when
// there is none): one indexed read, to tell whether a cached keystore is
// still current.
func (s *Store) RecordVersion(ctx context.Context, id string) (_ int64, err error) {
	ctx, done := s.call(ctx, "record_version")
	defer done(&err)
	var v int64
	err = s.db.QueryRowContext(ctx, `SELECT version FROM records WHERE id = $1`, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read record %q version: %w", id, err)
	}
	return v, nil
}

// completeRecords does, with the master key, what the migrations could not:
// it stores the public facts of records added before migration 7 and seals
// the PEM private keys migration 8 found in clear. Each record is its own
// short transaction; a record whose content does not open keeps empty facts
// and is logged (Chain is nil for it), it does not stop the store.
func (s *Store) completeRecords(ctx context.Context) error {
	var ids []string
	err := func() error {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM records WHERE length(chain) = 0 OR data_sealed = $1 ORDER BY id`, dataPending)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	}()
	if err != nil {
		return fmt.Errorf("complete records: %w", err)
	}
	sealed := 0
	for _, id := range ids {
		did, err := s.completeRecord(ctx, id)
		if err != nil {
			if unavailable(err) {
				return fmt.Errorf("complete record %s: %w", id, err)
			}
			s.log.Warn("record facts not stored: its content does not open", "record", id, "error", err)
		}
		if did {
			sealed++
		}
	}
	if sealed > 0 {
		s.log.Info("sealed PEM private keys stored in clear", "count", sealed)
		s.compactSQLite(ctx)
	}
	return nil
}

// completeRecord stores the facts of one record and seals its data when it
// is a PEM private key in clear, and reports whether it sealed.
func (s *Store) completeRecord(ctx context.Context, id string) (sealed bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		r, state, err := s.scanRecord(tx.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM records WHERE id = $1`+s.d.forUpdate, id))
		if err != nil {
			return err
		}
		if state == dataPending {
			data, err := s.seal(r.Data, sealAAD(r.ID, "data"))
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE records SET data = $1, data_sealed = $2 WHERE id = $3`, data, dataSealed, id); err != nil {
				return err
			}
			sealed = true
		}
		if len(r.ChainDER) > 0 {
			return nil
		}
		f, ferr := inspect(r.Type, r.Data, r.Alias, r.StorePassword, r.KeyPassword)
		if ferr != nil {
			return errFacts{ferr}
		}
		f.apply(r)
		_, err = tx.ExecContext(ctx, `UPDATE records SET chain = $1, fingerprint_sha1 = $2, subject = $3, issuer = $4, serial = $5 WHERE id = $6`,
			bytes.Join(r.ChainDER, nil), r.FingerprintSHA1, r.Subject, r.Issuer, r.Serial, id)
		return err
	})
	var fe errFacts
	if errors.As(err, &fe) && sealed {
		// Sealing must not wait for facts that cannot be had: do it alone.
		if ok, serr := s.sealOnly(ctx, id); serr != nil || !ok {
			return false, errors.Join(err, serr)
		}
		return true, err
	}
	return sealed, err
}

// errFacts is a record whose content does not open.
type errFacts struct{ err error }

func (e errFacts) Error() string { return e.err.Error() }
func (e errFacts) Unwrap() error { return e.err }

// sealOnly seals a pending record's data without storing its facts.
func (s *Store) sealOnly(ctx context.Context, id string) (bool, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var data []byte
		var state int
		if err := tx.QueryRowContext(ctx, `SELECT data, data_sealed FROM records WHERE id = $1`+s.d.forUpdate, id).Scan(&data, &state); err != nil {
			return err
		}
		if state != dataPending {
			return nil
		}
		sealed, err := s.seal(data, sealAAD(id, "data"))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE records SET data = $1, data_sealed = $2 WHERE id = $3`, sealed, dataSealed, id)
		return err
	})
	return err == nil, err
}
