package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// The ids of the base system keystores. The first two are the base system
// sys_ids the reference documents; the others are samlkeyd's own.
const (
	BaseSigningID    = "3685fc22930212003c5537ae867ffb91" // SAML 2.0 Keystore_Key2048_SHA256
	BaseFIPSID       = "c60ad24b732220103a5b0dd43cf6a7db" // SAML 2.0 Keystore_Key2048_SHA256_FIPS
	BaseEncryptionID = "a2918fa7628c360857c3cfa6ac3b5858" // SAML 2.0 Keystore_Key2048_SHA256_Encryption
	BaseLegacySPID   = "7550d1c4f421acfca6df81e84b6b8ff9" // SAML 2.0 SP Keystore (deprecated)
)

// BaseAlias is the alias of the base keystores' private-key entry.
const BaseAlias = "saml2sp"

// actorSystem is the audit actor of what the store does on its own.
const actorSystem = "system"

// BaseKeystore describes one base system keystore.
type BaseKeystore struct {
	ID       string
	Name     string
	Active   bool
	Property string // the property a fresh store points at it, if any
}

// BaseKeystores returns the base system keystores Open creates on first
// start, each from fresh key material: an RSA-2048 key with a
// SHA-256-signed self-signed certificate in a JKS keystore (PKCS#12 for
// the _FIPS one: baseFormat) under alias saml2sp, with random passwords.
func BaseKeystores() []BaseKeystore {
	return []BaseKeystore{
		{BaseSigningID, "SAML 2.0 Keystore_Key2048_SHA256", true, PropSigningKeystore},
		{BaseFIPSID, "SAML 2.0 Keystore_Key2048_SHA256_FIPS", false, ""},
		{BaseEncryptionID, "SAML 2.0 Keystore_Key2048_SHA256_Encryption", true, PropEncryptionKeystore},
		{BaseLegacySPID, "SAML 2.0 SP Keystore", false, ""},
	}
}

// baseFormat is how a base keystore is written: JKS, as the reference's
// keytool makes them, except the _FIPS one, and every one in Go's FIPS
// 140-3 mode, which are PKCS#12 with approved key protection (PBES2 with
// AES-256-CBC, HMAC-SHA-256 MAC): keys/fips refuses writing JKS there.
func baseFormat(b BaseKeystore) (Type, keys.Format) {
	if b.ID == BaseFIPSID || fips.Enabled() {
		return TypePKCS12, keys.FormatPKCS12
	}
	return TypeJavaKeyStore, keys.FormatJKS
}

// baseValidityDays is the base keystores' certificate lifetime.
const baseValidityDays = 730

// ensureBaseKeystores creates the base keystores missing from the store.
// A property is pointed at a base keystore only when this call created that
// keystore and the property is unset: a store that already chose its
// keystores (or was upgraded by the property copy) keeps its choice.
//
// Replicas starting together on a new store may all find the keystores
// missing and generate them; the inserts race, and only the replica whose
// inserts won announces "created base system keystores" and moves the
// change counter. The others discard what they generated.
func (s *Store) ensureBaseKeystores(ctx context.Context) error {
	missing, err := s.missingBaseKeystores(ctx)
	if err != nil {
		return fmt.Errorf("create base keystores: %w", err)
	}
	if len(missing) == 0 {
		return nil
	}
	// Generate outside the transaction: RSA key generation takes a while.
	recs := make([]*Record, len(missing))
	for i, b := range missing {
		r, err := s.newBaseRecord(b)
		if err != nil {
			return fmt.Errorf("create base keystore %q: %w", b.Name, err)
		}
		recs[i] = r
	}
	created := 0
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.tx(ctx, func(tx *sql.Tx) error {
		created = 0
		for i, b := range missing {
			ok, err := s.insertRecord(ctx, tx, recs[i])
			if err != nil {
				return fmt.Errorf("%q: %w", b.Name, err)
			}
			if !ok {
				continue // another replica made it meanwhile
			}
			created++
			if err := writeAudit(ctx, tx, s.now(), actorSystem, ActionRecordAdd, b.ID, "", b.Name); err != nil {
				return err
			}
			if b.Property == "" {
				continue
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO properties (name, value, updated) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
				b.Property, b.ID, fmtTime(s.now()))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				if err := writeAudit(ctx, tx, s.now(), actorSystem, ActionPropertySet, b.Property, "", b.ID); err != nil {
					return err
				}
			}
		}
		if created == 0 {
			return nil // all made by another replica: nothing changed
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("create base keystores: %w", err)
	}
	if created > 0 {
		s.log.Info("created base system keystores", "count", created)
	}
	return nil
}

// missingBaseKeystores returns the base keystores whose id and name are
// both free.
func (s *Store) missingBaseKeystores(ctx context.Context) ([]BaseKeystore, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var missing []BaseKeystore
	for _, b := range BaseKeystores() {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM records WHERE id = $1 OR name = $2`, b.ID, b.Name).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			missing = append(missing, b)
		}
	}
	return missing, nil
}

// newBaseRecord generates the key material of one base keystore, under a
// random store password and a different random key password.
func (s *Store) newBaseRecord(b BaseKeystore) (*Record, error) {
	storePass, err := keys.RandomPassword(s.rand)
	if err != nil {
		return nil, err
	}
	keyPass, err := keys.RandomPassword(s.rand)
	if err != nil {
		return nil, err
	}
	typ, format := baseFormat(b)
	if format == keys.FormatPKCS12 {
		keyPass = storePass // PKCS#12 keys take the store password
	}
	g, err := keys.GenerateKeystore(keys.KeystoreOptions{
		GenerateOptions: keys.GenerateOptions{
			Alias:        BaseAlias,
			KeyAlg:       "RSA",
			KeySize:      2048,
			ValidityDays: baseValidityDays,
			DName:        "CN=" + b.Name + ",O=samlkeyd",
			Rand:         s.rand,
			Now:          s.now,
		},
		Format:        format,
		StorePassword: storePass,
		KeyPassword:   keyPass,
	})
	if err != nil {
		return nil, err
	}
	f, err := inspect(typ, g.Data, BaseAlias, storePass, keyPass)
	if err != nil {
		return nil, fmt.Errorf("check generated keystore: %w", err)
	}
	now := s.now().UTC()
	return &Record{
		ID: b.ID, Name: b.Name, Type: typ, Format: f.format, Active: b.Active,
		Alias: f.alias, NotAfter: f.notAfter, FingerprintSHA256: f.fingerprint,
		Created: now, Updated: now, Data: g.Data, StorePassword: storePass, KeyPassword: keyPass,
	}, nil
}
