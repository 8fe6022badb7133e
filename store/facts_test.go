package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// pemLeaf decodes the first CERTIFICATE block of a PEM file with the
// standard library alone (not the keys package the store uses).
func pemLeaf(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			t.Fatal("no CERTIFICATE block")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

func TestRecordFacts(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		add := []NewRecord{
			{Name: "jks", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"),
				StorePassword: secret.FromString(sentinelStorePass), KeyPassword: secret.FromString(sentinelKeyPass)},
			{Name: "p12", Type: TypePKCS12, Data: readFixture(t, "sp.p12"), StorePassword: secret.FromString(sentinelStorePass)},
			{Name: "pem", Type: TypePEM, Data: readFixture(t, "keypair.pem")},
			{Name: "trust", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")},
		}
		ids := map[string]string{}
		for _, r := range add {
			rec, err := s.AddRecord(ctx, "test", r)
			if err != nil {
				t.Fatalf("add %s: %v", r.Name, err)
			}
			ids[r.Name] = rec.ID
		}
		// Independent expectations: the trust record's and the PEM's
		// certificates decoded with encoding/pem; the keystores' leaves by
		// opening them.
		want := map[string]*x509.Certificate{
			"trust": pemLeaf(t, readFixture(t, "cert.pem")),
			"pem":   pemLeaf(t, readFixture(t, "keypair.pem")),
			"jks":   pemLeaf(t, readFixture(t, "cert.pem")), // cert.pem is sp.jks's certificate (gen.sh)
		}
		if r, err := s.Record(ctx, ids["p12"]); err != nil {
			t.Fatal(err)
		} else if ks, err := r.Parse(); err != nil {
			t.Fatal(err)
		} else {
			want["p12"] = ks.Entries[0].Leaf()
		}

		// The content of one record is made unreadable: listing facts must
		// not need it.
		if _, err := s.db.Exec(`UPDATE records SET store_password = $1 WHERE id = $2`, []byte("garbage"), ids["jks"]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Records(ctx); !errors.Is(err, ErrWrongMasterKey) {
			t.Fatalf("Records with a corrupt sealed password = %v, want ErrWrongMasterKey (the test's premise)", err)
		}
		facts, err := s.RecordFacts(ctx)
		if err != nil {
			t.Fatalf("RecordFacts must not unseal anything: %v", err)
		}
		if len(facts) != len(add) {
			t.Fatalf("RecordFacts returned %d records, want %d", len(facts), len(add))
		}
		for _, r := range facts {
			w := want[r.Name]
			sum := sha1.Sum(w.Raw)
			chain := r.Chain()
			switch {
			case len(chain) == 0 || !bytes.Equal(chain[0].Raw, w.Raw):
				t.Errorf("%s: Chain() leaf differs from the file's certificate", r.Name)
			case r.FingerprintSHA1 != hex.EncodeToString(sum[:]) || r.FingerprintSHA256 != keys.FingerprintSHA256(w):
				t.Errorf("%s: fingerprints %s / %s do not match the certificate", r.Name, r.FingerprintSHA1, r.FingerprintSHA256)
			case r.Subject != w.Subject.String() || r.Issuer != w.Issuer.String() || r.Serial != w.SerialNumber.Text(16):
				t.Errorf("%s: subject %q issuer %q serial %s, want %q %q %s", r.Name, r.Subject, r.Issuer, r.Serial,
					w.Subject, w.Issuer, w.SerialNumber.Text(16))
			case !r.NotAfter.Equal(w.NotAfter) || r.Version < 1:
				t.Errorf("%s: not after %v version %d", r.Name, r.NotAfter, r.Version)
			}
			if r.Data != nil || !r.StorePassword.Empty() || !r.KeyPassword.Empty() {
				t.Errorf("%s: RecordFacts carries content", r.Name)
			}
			if _, err := r.Parse(); err == nil {
				t.Errorf("%s: Parse of a facts-only record succeeded", r.Name)
			}
		}

		versions, err := s.RecordVersions(ctx)
		if err != nil || len(versions) != len(facts) {
			t.Fatalf("RecordVersions = %d records, %v; want %d", len(versions), err, len(facts))
		}
		for i, v := range versions {
			if v.ID != facts[i].ID || v.Version != facts[i].Version {
				t.Errorf("RecordVersions[%d] = %+v, want %s version %d (RecordFacts' order)", i, v, facts[i].ID, facts[i].Version)
			}
		}

		// The version moves with the row, and a record deleted and added
		// again under its id starts above it: a cache keyed by it notices.
		v0, err := s.RecordVersion(ctx, ids["pem"])
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetActive(ctx, "test", ids["pem"], false); err != nil {
			t.Fatal(err)
		}
		v1, err := s.RecordVersion(ctx, ids["pem"])
		if err != nil || v1 <= v0 {
			t.Errorf("version after deactivation = %d, %v; want above %d", v1, err, v0)
		}
		if err := s.DeleteRecord(ctx, "test", ids["pem"]); err != nil {
			t.Fatal(err)
		}
		again, err := s.AddRecord(ctx, "test", NewRecord{ID: ids["pem"], Name: "pem", Type: TypePEM, Data: readFixture(t, "keypair.pem")})
		if err != nil {
			t.Fatal(err)
		}
		if v2, err := s.RecordVersion(ctx, ids["pem"]); err != nil || v2 <= v1 || again.Version != v2 {
			t.Errorf("version of a record added again = %d (returned %d), %v; want above %d", v2, again.Version, err, v1)
		}
		if _, err := s.RecordVersion(ctx, strings.Repeat("0", 32)); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordVersion of a missing record = %v, want ErrNotFound", err)
		}
	})
}

// keyLines returns the base64 lines of the private key block of a PEM file:
// what must never be found in the store's files or rows once sealed.
func keyLines(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	in := false
	for _, l := range bytes.Split(data, []byte("\n")) {
		switch {
		case bytes.HasPrefix(l, []byte("-----BEGIN")) && bytes.Contains(l, []byte("PRIVATE KEY")):
			in = true
		case bytes.HasPrefix(l, []byte("-----END")):
			in = false
		case in && len(l) >= 40:
			out = append(out, l)
		}
	}
	if len(out) < 10 {
		t.Fatalf("found %d key lines in the fixture", len(out))
	}
	return out
}

// sqliteFiles returns the bytes of the database and its WAL and shm files.
func sqliteFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, f := range []string{sqliteFile, sqliteFile + "-wal", sqliteFile + "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func containsAny(hay []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(hay, n) {
			return true
		}
	}
	return false
}

// TestUpgradeCompletesRecords: a store written before migrations 7 and 8
// (no facts; a PEM private key in clear) is completed when opened with the
// master key: facts stored, the key sealed. On SQLite no file holds the key
// in clear afterwards, on PostgreSQL no row does; the key still opens.
func TestUpgradeCompletesRecords(t *testing.T) {
	ctx := context.Background()
	pemData := readFixture(t, "keypair.pem")
	lines := keyLines(t, pemData)
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			o := b.options(t)
			o.NoBaseKeystores = true
			db, d, err := openDB(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := migrate(ctx, db, d, time.Now(), 6, discardLogger()); err != nil {
				t.Fatal(err)
			}
			master, _ := decodeMasterKey(o.MasterKey.Reveal())
			old := &Store{db: db, d: d, master: master, rand: rand.Reader, now: time.Now}
			f, err := inspect(TypePEM, pemData, "", secret.Value{}, secret.Value{})
			if err != nil {
				t.Fatal(err)
			}
			rec := &Record{ID: strings.Repeat("ab", 16), Name: "old pem", Type: TypePEM, Format: f.format, Active: true,
				Alias: f.alias, NotAfter: f.notAfter, FingerprintSHA256: f.fingerprint, Data: pemData}
			if err := old.tx(ctx, func(tx *sql.Tx) error { return insertV1Record(ctx, tx, old, rec) }); err != nil {
				t.Fatal(err)
			}
			if b.name == "sqlite" {
				if _, err := db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
					t.Fatal(err)
				}
				if !containsAny(sqliteFiles(t, o.DataDir), lines) {
					t.Fatal("the old store's files do not hold the key in clear: the test proves nothing")
				}
			}
			_ = db.Close()

			s := open(t, o)
			got, err := s.Record(ctx, rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Data, pemData) {
				t.Error("sealed record does not read back as the PEM it held")
			}
			if ks, err := got.Parse(); err != nil || len(ks.Entries) == 0 || !ks.Entries[0].IsPrivateKey() {
				t.Errorf("sealed PEM record no longer opens with its key: %v", err)
			}
			if len(got.ChainDER) != 1 || got.FingerprintSHA1 == "" || got.Subject == "" {
				t.Errorf("facts not completed: chain %d, sha1 %q, subject %q", len(got.ChainDER), got.FingerprintSHA1, got.Subject)
			}
			var raw []byte
			var state int
			if err := s.db.QueryRow(`SELECT data, data_sealed FROM records WHERE id = $1`, rec.ID).Scan(&raw, &state); err != nil {
				t.Fatal(err)
			}
			if state != dataSealed || containsAny(raw, lines) || bytes.Contains(raw, pemKeyMarker) {
				t.Errorf("row after upgrade: state %d, key in clear %v", state, containsAny(raw, lines))
			}
			if b.name == "sqlite" && containsAny(sqliteFiles(t, o.DataDir), lines) {
				t.Error("the SQLite files still hold the PEM private key in clear after sealing")
			}
		})
	}
}

// TestPEMKeySealedWhenAdded: a PEM record with a private key is stored
// sealed; certificates only are stored as given.
func TestPEMKeySealedWhenAdded(t *testing.T) {
	ctx := context.Background()
	pemData := readFixture(t, "keypair.pem")
	lines := keyLines(t, pemData)
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		key, err := s.AddRecord(ctx, "test", NewRecord{Name: "pem", Type: TypePEM, Data: pemData})
		if err != nil {
			t.Fatal(err)
		}
		trust, err := s.AddRecord(ctx, "test", NewRecord{Name: "trust", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			id        string
			wantState int
		}{{key.ID, dataSealed}, {trust.ID, dataPlain}} {
			var raw []byte
			var state int
			if err := s.db.QueryRow(`SELECT data, data_sealed FROM records WHERE id = $1`, c.id).Scan(&raw, &state); err != nil {
				t.Fatal(err)
			}
			if state != c.wantState || containsAny(raw, lines) {
				t.Errorf("record %s: state %d (want %d), key in clear %v", c.id, state, c.wantState, containsAny(raw, lines))
			}
		}
		if o.DataDir != "" && containsAny(sqliteFiles(t, o.DataDir), lines) {
			t.Error("the SQLite files hold the PEM private key in clear")
		}
		got, err := s.Record(ctx, key.ID)
		if err != nil || !bytes.Equal(got.Data, pemData) {
			t.Errorf("sealed PEM reads back differently: %v", err)
		}
		// A sealed value moved to another record does not open.
		if _, err := s.db.Exec(`UPDATE records SET data = (SELECT data FROM records WHERE id = $1), data_sealed = $2 WHERE id = $3`,
			key.ID, dataSealed, trust.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Record(ctx, trust.ID); !errors.Is(err, ErrWrongMasterKey) {
			t.Errorf("sealed data moved to another record: %v, want ErrWrongMasterKey", err)
		}
	})
}
