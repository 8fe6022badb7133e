package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// masterKeyFile is the master key's file name in the data directory.
const masterKeyFile = "master.key"

// masterKeySize is the AES-256 key size.
const masterKeySize = 32

// sealVersion prefixes every sealed value: AES-256-GCM, 12-byte nonce.
const sealVersion = 1

// loadMasterKey returns the master key: o.MasterKey, else the key in
// o.MasterKeyFile, else <data>/master.key, created on first start.
func loadMasterKey(o Options, rnd io.Reader) (secret.Value, error) {
	if !o.MasterKey.Empty() {
		k, err := decodeMasterKey(o.MasterKey.Reveal())
		if err != nil {
			return secret.Value{}, fmt.Errorf("master key from SAMLKEYD_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	path := o.MasterKeyFile
	create := false
	if path == "" {
		path = filepath.Join(o.dataDir(), masterKeyFile)
		// A PostgreSQL store is shared by replicas: a key file made up by
		// one of them would lock the others out. Use an existing one only.
		create = o.DatabaseURL == ""
	}
	k, err := readMasterKeyFile(path)
	if errors.Is(err, os.ErrNotExist) && !create && o.MasterKeyFile == "" {
		return secret.Value{}, errors.New("master key: a PostgreSQL store needs the key every replica shares: set SAMLKEYD_MASTER_KEY or --master-key-file")
	}
	if errors.Is(err, os.ErrNotExist) && create {
		return createMasterKeyFile(path, rnd)
	}
	return k, err
}

// readMasterKeyFile reads a master key file, refusing one that group or
// others may read.
func readMasterKeyFile(path string) (secret.Value, error) {
	f, err := os.Open(path)
	if err != nil {
		return secret.Value{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return secret.Value{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return secret.Value{}, fmt.Errorf("read master key %q: mode %04o: %w: run chmod 600 %q", path, perm, ErrUnsafeMasterKey, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return secret.Value{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	defer clear(b)
	k, err := decodeMasterKey(b)
	if err != nil {
		return secret.Value{}, fmt.Errorf("read master key %q: %w", path, err)
	}
	return k, nil
}

// CreateMasterKeyFile writes a fresh random master key to path (0600,
// atomically) unless the file exists, for `samlkeyd init` of a PostgreSQL
// store: every replica is then given the same file.
func CreateMasterKeyFile(path string) error {
	k, err := createMasterKeyFile(path, rand.Reader)
	k.Zero()
	return err
}

// createMasterKeyFile writes a fresh random key to path (0600, atomically).
func createMasterKeyFile(path string, rnd io.Reader) (secret.Value, error) {
	raw := make([]byte, masterKeySize)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return secret.Value{}, fmt.Errorf("create master key %q: %w", path, err)
	}
	enc := []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
	defer clear(enc)
	if err := keys.CreateFile(path, enc); err != nil {
		clear(raw)
		if errors.Is(err, os.ErrExist) { // another process made it first: use theirs
			return readMasterKeyFile(path)
		}
		return secret.Value{}, fmt.Errorf("create master key: %w", err)
	}
	k := secret.New(raw)
	clear(raw)
	return k, nil
}

// decodeMasterKey accepts 32 bytes as base64 or 64 hex digits, surrounding
// white space ignored.
func decodeMasterKey(b []byte) (secret.Value, error) {
	b = bytes.TrimSpace(b)
	out := make([]byte, max(base64.StdEncoding.DecodedLen(len(b)), hex.DecodedLen(len(b))))
	defer clear(out)
	if len(b) == 2*masterKeySize {
		if n, err := hex.Decode(out, b); err == nil && n == masterKeySize {
			return secret.New(out[:n]), nil
		}
	}
	if n, err := base64.StdEncoding.Decode(out, b); err == nil && n == masterKeySize {
		return secret.New(out[:n]), nil
	}
	return secret.Value{}, fmt.Errorf("a master key is %d random bytes as base64 or %d hex digits (make one with: openssl rand -base64 32)", masterKeySize, 2*masterKeySize)
}

// seal encrypts plain with the master key, binding it to aad.
func (s *Store) seal(plain []byte, aad string) ([]byte, error) {
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+gcm.NonceSize(), 1+gcm.NonceSize()+len(plain)+gcm.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(s.rand, out[1:]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return gcm.Seal(out, out[1:], plain, []byte(aad)), nil
}

// unseal decrypts what seal made with the same aad. A wrong master key (or
// a value moved to another record) fails with ErrWrongMasterKey.
func (s *Store) unseal(sealed []byte, aad string) (secret.Value, error) {
	gcm, err := s.gcm()
	if err != nil {
		return secret.Value{}, err
	}
	if len(sealed) < 1+gcm.NonceSize()+gcm.Overhead() || sealed[0] != sealVersion {
		return secret.Value{}, fmt.Errorf("sealed value is malformed: %w", ErrWrongMasterKey)
	}
	nonce := sealed[1 : 1+gcm.NonceSize()]
	plain, err := gcm.Open(nil, nonce, sealed[1+gcm.NonceSize():], []byte(aad))
	if err != nil {
		return secret.Value{}, ErrWrongMasterKey
	}
	v := secret.New(plain)
	clear(plain)
	return v, nil
}

func (s *Store) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.master.Reveal())
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return cipher.NewGCM(block)
}

// masterKeyCheck is sealed into meta on first start so that a wrong master
// key is found at Open, with one clear error, rather than at first use.
const (
	masterKeyCheckName  = "master_key_check"
	masterKeyCheckPlain = "samlkeyd master key check"
)

// checkMasterKey verifies the master key against the store, recording a
// check value on first start.
func (s *Store) checkMasterKey(ctx context.Context) error {
	sealed, err := s.seal([]byte(masterKeyCheckPlain), masterKeyCheckName)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
		masterKeyCheckName, base64.StdEncoding.EncodeToString(sealed)); err != nil {
		return fmt.Errorf("open store: record master key check: %w", err)
	}
	var stored string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = $1`, masterKeyCheckName).Scan(&stored); err != nil {
		return fmt.Errorf("open store: read master key check: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(stored)
	if err != nil {
		return fmt.Errorf("open store: master key check is corrupt: %w", err)
	}
	v, err := s.unseal(raw, masterKeyCheckName)
	if err != nil || string(v.Reveal()) != masterKeyCheckPlain {
		return ErrWrongMasterKey
	}
	return nil
}
