package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

func migrateV6(ctx context.Context, tx *sql.Tx, d dialect, _ time.Time) error {
	_, err := tx.ExecContext(ctx, d.sql(`CREATE TABLE metadata_fetches (
		idp          TEXT PRIMARY KEY,
		at           TEXT NOT NULL,
		fingerprints TEXT NOT NULL
	)`))
	return err
}

// MetadataFetch is the last time an IdP fetched the SP metadata, and the
// SHA-256 fingerprints of the signing and encryption certificates it was
// served.
type MetadataFetch struct {
	IdP          string    `json:"idp"`
	At           time.Time `json:"at"`
	Fingerprints []string  `json:"fingerprints"`
}

// RecordMetadataFetch remembers that idp fetched the metadata at at and was
// served these certificates. Fetches are not audited and do not move the
// change counter.
func (s *Store) RecordMetadataFetch(ctx context.Context, idp string, at time.Time, fingerprints []string) (err error) {
	ctx, done := s.call(ctx, "record_metadata_fetch")
	defer done(&err)
	_, err = s.db.ExecContext(ctx, `INSERT INTO metadata_fetches (idp, at, fingerprints) VALUES ($1, $2, $3)
		ON CONFLICT (idp) DO UPDATE SET at = excluded.at, fingerprints = excluded.fingerprints`,
		idp, fmtTime(at), strings.Join(fingerprints, ","))
	if err != nil {
		return fmt.Errorf("record metadata fetch by %q: %w", idp, err)
	}
	return nil
}

// MetadataFetches returns the last metadata fetch of every IdP that fetched.
func (s *Store) MetadataFetches(ctx context.Context) (_ []MetadataFetch, err error) {
	ctx, done := s.call(ctx, "metadata_fetches")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT idp, at, fingerprints FROM metadata_fetches ORDER BY idp`)
	if err != nil {
		return nil, fmt.Errorf("read metadata fetches: %w", err)
	}
	defer rows.Close()
	var out []MetadataFetch
	for rows.Next() {
		var f MetadataFetch
		var at, fps string
		if err := rows.Scan(&f.IdP, &at, &fps); err != nil {
			return nil, fmt.Errorf("read metadata fetches: %w", err)
		}
		if f.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read metadata fetches: %w", err)
		}
		if fps != "" {
			f.Fingerprints = strings.Split(fps, ",")
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
