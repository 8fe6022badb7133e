package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Audit actions.
const (
	ActionRecordAdd        = "record.add"        // object: record id; after: its name
	ActionRecordActivate   = "record.activate"   // before/after: inactive/active
	ActionRecordDeactivate = "record.deactivate" // before/after: active/inactive
	ActionRecordDelete     = "record.delete"     // before: its name
	ActionPropertySet      = "property.set"      // object: property name; before/after: values ("" = unset)
	ActionPropertyCopy     = "property.copy"     // the upgrade copy of the signing keystore into the encryption one
)

// AuditEntry is one change: when, who (a CLI user, an API token name, or
// "migration"), what, and the values before and after. Entries carry record
// ids, names and property values, never passwords or key material.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Object string    `json:"object"`
	Before string    `json:"before"`
	After  string    `json:"after"`
}

// writeAudit appends an audit entry inside tx.
func writeAudit(ctx context.Context, tx *sql.Tx, at time.Time, actor, action, object, before, after string) error {
	if actor == "" {
		actor = "unknown"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, object, old_value, new_value) VALUES ($1, $2, $3, $4, $5, $6)`,
		fmtTime(at), actor, action, object, before, after)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// Audit returns the audit log, oldest first.
func (s *Store) Audit(ctx context.Context) (_ []AuditEntry, err error) {
	ctx, done := s.call(ctx, "audit")
	defer done(&err)
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, object, old_value, new_value FROM audit ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Object, &e.Before, &e.After); err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read audit log: entry %d: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
