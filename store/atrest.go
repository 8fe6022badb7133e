package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
)

// The states of a record's data column (records.data_sealed).
const (
	dataPlain   = 0 // stored as given: a keystore whose key is encrypted under its sealed key password, or certificates only
	dataSealed  = 1 // sealed with the master key, bound to the record id and the column
	dataPending = 2 // a private key in clear written before migration 8: Open seals it
)

// pemKeyMarker ends the BEGIN line of every PEM private key block (PRIVATE
// KEY, RSA PRIVATE KEY, EC PRIVATE KEY, ENCRYPTED PRIVATE KEY).
var pemKeyMarker = []byte("PRIVATE KEY-----")

// holdsClearKey reports whether a record's data holds a private key that
// nothing but the master key would protect: a PEM file with a private key
// block. JKS and PKCS#12 keys are encrypted under their (sealed) key
// password.
func holdsClearKey(format keys.Format, data []byte) bool {
	return format == keys.FormatPEM && bytes.Contains(data, pemKeyMarker)
}

// migrateV8 adds the data_sealed state and marks the PEM records whose data
// holds a private key in clear as pending. Sealing needs the master key,
// which migrations do not have: Open seals pending records (completeRecords).
func migrateV8(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	if _, err := tx.ExecContext(ctx, d.sql(`ALTER TABLE records ADD COLUMN data_sealed INTEGER NOT NULL DEFAULT 0`)); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, data FROM records WHERE format = $1`, string(keys.FormatPEM))
	if err != nil {
		return err
	}
	var pending []string
	for rows.Next() {
		var id string
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			rows.Close()
			return err
		}
		if holdsClearKey(keys.FormatPEM, data) {
			pending = append(pending, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range pending {
		if _, err := tx.ExecContext(ctx, `UPDATE records SET data_sealed = $1 WHERE id = $2`, dataPending, id); err != nil {
			return err
		}
	}
	return nil
}

// unsealData returns a record's content as stored in the given state.
func (s *Store) unsealData(id string, data []byte, state int) ([]byte, error) {
	if state != dataSealed {
		return data, nil
	}
	v, err := s.unseal(data, sealAAD(id, "data"))
	if err != nil {
		return nil, fmt.Errorf("record %s data: %w", id, err)
	}
	return v.Reveal(), nil
}

// compactSQLite, after private keys were sealed in place, moves the WAL
// into the database file and truncates it, so the keys in clear that the
// WAL still held are gone from disk too (freed pages are zeroed: the
// connection runs with secure_delete). PostgreSQL keeps old row versions
// until VACUUM; docs/security.md says so.
func (s *Store) compactSQLite(ctx context.Context) {
	if s.d.name != "sqlite" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var busy, logged, moved int
	err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &moved)
	if err != nil || busy != 0 {
		s.log.Warn("store WAL not truncated after sealing: another process reads the store; it is truncated at its next checkpoint", "error", err)
	}
}
