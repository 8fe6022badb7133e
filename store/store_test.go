package store

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

func TestOpenCreatesBaseKeystores(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		clock := &fixedClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		o.Now = clock.Now
		s := open(t, o)
		recs, err := s.Records(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(BaseKeystores()) {
			t.Fatalf("fresh store has %d records, want %d", len(recs), len(BaseKeystores()))
		}
		fingerprints := map[string]string{}
		for _, b := range BaseKeystores() {
			r, err := s.Record(ctx, b.ID)
			if err != nil {
				t.Fatalf("base keystore %q: %v", b.Name, err)
			}
			typ, format := baseFormat(b)
			if r.Name != b.Name || r.Active != b.Active || r.Type != typ || r.Format != format || r.Alias != BaseAlias {
				t.Errorf("base keystore %s = %q active=%v type=%s format=%s alias=%q", b.ID, r.Name, r.Active, r.Type, r.Format, r.Alias)
			}
			if want := clock.Now().Add(baseValidityDays * 24 * time.Hour); !r.NotAfter.Equal(want) {
				t.Errorf("%q not after %v, want %v", b.Name, r.NotAfter, want)
			}
			kst, err := r.Parse()
			if err != nil {
				t.Fatal(err)
			}
			e, err := kst.PrivateKeyEntry(BaseAlias)
			if err != nil {
				t.Fatal(err)
			}
			if k, ok := e.Key.(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
				t.Errorf("%q key is %T, want RSA-2048", b.Name, e.Key)
			}
			if e.Leaf().SignatureAlgorithm.String() != "SHA256-RSA" {
				t.Errorf("%q certificate signed with %v, want SHA256-RSA", b.Name, e.Leaf().SignatureAlgorithm)
			}
			if format == keys.FormatJKS {
				// An independent JKS implementation opens what we stored
				// (TestBaseFIPSKeystore has openssl read the PKCS#12 ones).
				ks := keystore.New()
				if err := ks.Load(bytes.NewReader(r.Data), r.StorePassword.Reveal()); err != nil {
					t.Fatalf("keystore-go cannot load %q: %v", b.Name, err)
				}
				pke, err := ks.GetPrivateKeyEntry(BaseAlias, r.KeyPassword.Reveal())
				if err != nil {
					t.Fatalf("keystore-go: %q alias %s: %v", b.Name, BaseAlias, err)
				}
				if !bytes.Equal(pke.CertificateChain[0].Content, e.Leaf().Raw) {
					t.Errorf("%q: keystore-go and keys see different certificates", b.Name)
				}
			}
			if r.FingerprintSHA256 != keys.FingerprintSHA256(e.Leaf()) {
				t.Errorf("%q fingerprint %s does not match its certificate", b.Name, r.FingerprintSHA256)
			}
			fingerprints[b.ID] = r.FingerprintSHA256
		}
		if len(map[string]bool{fingerprints[BaseSigningID]: true, fingerprints[BaseFIPSID]: true,
			fingerprints[BaseEncryptionID]: true, fingerprints[BaseLegacySPID]: true}) != 4 {
			t.Error("base keystores share key material; each must be fresh")
		}
		assertProp(t, s, PropSigningKeystore, BaseSigningID)
		assertProp(t, s, PropEncryptionKeystore, BaseEncryptionID)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening creates nothing new and keeps the key material.
		s = open(t, o)
		recs, err = s.Records(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 4 {
			t.Fatalf("reopened store has %d records, want 4", len(recs))
		}
		for _, r := range recs {
			if fingerprints[r.ID] != r.FingerprintSHA256 {
				t.Errorf("%q changed key material on reopen", r.Name)
			}
		}
	})
}

// addFixture adds a testdata file as a record.
func addFixture(t *testing.T, s *Store, name string, typ Type, file string, storePass, keyPass string) *Record {
	t.Helper()
	r, err := s.AddRecord(context.Background(), "test", NewRecord{
		Name: name, Type: typ, Data: readFixture(t, file),
		StorePassword: secret.FromString(storePass), KeyPassword: secret.FromString(keyPass),
	})
	if err != nil {
		t.Fatalf("add %s: %v", file, err)
	}
	return r
}

func TestAddRecord(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		rec       NewRecord
		wantErr   error  // errors.Is
		wantMsg   string // substring of the error
		wantAlias string
		wantFmt   keys.Format
	}{
		{name: "jks with key password", rec: NewRecord{Name: "sp jks", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"),
			StorePassword: secret.FromString(sentinelStorePass), KeyPassword: secret.FromString(sentinelKeyPass)},
			wantAlias: "sp", wantFmt: keys.FormatJKS},
		{name: "pkcs12", rec: NewRecord{Name: "sp p12", Type: TypePKCS12, Data: readFixture(t, "sp.p12"),
			StorePassword: secret.FromString(sentinelStorePass)}, wantAlias: "sp", wantFmt: keys.FormatPKCS12},
		{name: "pkcs12 as java_key_store, as keytool makes it", rec: NewRecord{Name: "sp p12 as jks", Type: TypeJavaKeyStore,
			Data: readFixture(t, "sp.p12"), StorePassword: secret.FromString(sentinelStorePass)}, wantAlias: "sp", wantFmt: keys.FormatPKCS12},
		{name: "trust store cert", rec: NewRecord{Name: "partner root", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")},
			wantFmt: keys.FormatPEM},
		{name: "pem with key", rec: NewRecord{Name: "pem pair", Type: TypePEM, Data: readFixture(t, "keypair.pem")}, wantAlias: "1", wantFmt: keys.FormatPEM}, // keys names a PEM key entry "1"
		{name: "wrong store password", rec: NewRecord{Name: "x", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"),
			StorePassword: secret.FromString("wrong"), KeyPassword: secret.FromString(sentinelKeyPass)},
			wantErr: keys.ErrWrongStorePassword},
		{name: "wrong key password", rec: NewRecord{Name: "x", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"),
			StorePassword: secret.FromString(sentinelStorePass), KeyPassword: secret.FromString("wrong")},
			wantErr: keys.ErrWrongKeyPassword},
		{name: "trust store cert with private key", rec: NewRecord{Name: "x", Type: TypeTrustStoreCert, Data: readFixture(t, "keypair.pem")},
			wantErr: ErrInvalid, wantMsg: "has a private key"},
		{name: "keystore type without key", rec: NewRecord{Name: "x", Type: TypeJavaKeyStore, Data: readFixture(t, "cert.pem")},
			wantErr: ErrInvalid, wantMsg: "needs a JKS or PKCS#12"},
		{name: "unknown alias", rec: NewRecord{Name: "x", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"), Alias: "nope",
			StorePassword: secret.FromString(sentinelStorePass), KeyPassword: secret.FromString(sentinelKeyPass)},
			wantErr: keys.ErrAliasNotFound},
		{name: "truncated keystore", rec: NewRecord{Name: "x", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks")[:100],
			StorePassword: secret.FromString(sentinelStorePass)}, wantErr: ErrInvalid},
		{name: "unknown type", rec: NewRecord{Name: "x", Type: "der", Data: readFixture(t, "cert.pem")}, wantErr: ErrInvalid, wantMsg: "use one of"},
		{name: "empty name", rec: NewRecord{Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")}, wantErr: ErrInvalid},
		{name: "bad id", rec: NewRecord{ID: "ABC", Name: "x", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")}, wantErr: ErrInvalid},
		{name: "taken name", rec: NewRecord{Name: "taken", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")}, wantErr: ErrExists},
	}
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		addFixture(t, s, "taken", TypeTrustStoreCert, "cert.pem", "", "")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before, _ := s.ChangeCounter(ctx)
				r, err := s.AddRecord(ctx, "test", tt.rec)
				if err != nil {
					assertNoSentinel(t, "error", fmt.Sprintf("%v %+v", err, err))
				}
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
						t.Fatalf("AddRecord error = %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
					}
					if after, _ := s.ChangeCounter(ctx); after != before {
						t.Error("a refused record changed the store")
					}
					return
				}
				if err != nil {
					t.Fatalf("AddRecord: %v", err)
				}
				if !ValidID(r.ID) || !r.Active || r.Alias != tt.wantAlias || r.Format != tt.wantFmt || len(r.FingerprintSHA256) != 64 {
					t.Errorf("record id=%s active=%v alias=%q format=%s fingerprint=%q", r.ID, r.Active, r.Alias, r.Format, r.FingerprintSHA256)
				}
				got, err := s.RecordByName(ctx, tt.rec.Name)
				if err != nil {
					t.Fatal(err)
				}
				if got.ID != r.ID || !bytes.Equal(got.Data, tt.rec.Data) || !got.StorePassword.Equal(tt.rec.StorePassword) ||
					!got.KeyPassword.Equal(tt.rec.KeyPassword) || !got.NotAfter.Equal(r.NotAfter) {
					t.Errorf("stored record differs from the one added")
				}
				if after, _ := s.ChangeCounter(ctx); after != before+1 {
					t.Errorf("change counter %d -> %d, want +1", before, after)
				}
			})
		}
		if _, err := s.Record(ctx, "00000000000000000000000000000000"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Record(missing) = %v, want ErrNotFound", err)
		}
		if _, err := s.RecordByName(ctx, "missing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("RecordByName(missing) = %v, want ErrNotFound", err)
		}
	})
}

func TestKeystoreProperties(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		ks := addFixture(t, s, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		p12 := addFixture(t, s, "sp12", TypePKCS12, "sp.p12", sentinelStorePass, "")
		cert := addFixture(t, s, "root", TypeTrustStoreCert, "cert.pem", "", "")
		off := addFixture(t, s, "off", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		if err := s.SetActive(ctx, "test", off.ID, false); err != nil {
			t.Fatal(err)
		}
		refusals := []struct {
			name, value string
			want        error
		}{
			{"missing id", "0123456789abcdef0123456789abcdef", ErrNotFound},
			{"inactive keystore", off.ID, ErrInvalid},
			{"not a keystore", cert.ID, ErrInvalid},
		}
		for _, prop := range []string{PropSigningKeystore, PropEncryptionKeystore} {
			for _, r := range refusals {
				t.Run(prop+"/"+r.name, func(t *testing.T) {
					if err := s.SetProperty(ctx, "test", prop, r.value); !errors.Is(err, r.want) {
						t.Errorf("SetProperty = %v, want %v", err, r.want)
					}
					assertProp(t, s, prop, "")
				})
			}
		}
		if err := s.SetProperty(ctx, "test", PropSigningKeystore, ks.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.SetProperty(ctx, "test", PropEncryptionKeystore, p12.ID); err != nil {
			t.Fatal(err)
		}
		// Other properties take any value.
		if err := s.SetProperty(ctx, "test", "samlkeyd.example", "anything"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetProperty(ctx, "test", "bad name", "x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetProperty(bad name) = %v, want ErrInvalid", err)
		}
		props, err := s.Properties(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range props {
			got[p.Name] = p.Value
		}
		want := map[string]string{PropSigningKeystore: ks.ID, PropEncryptionKeystore: p12.ID, "samlkeyd.example": "anything"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Properties = %v, want %v", got, want)
		}

		// A record a property points to can be neither deleted nor deactivated.
		if err := s.DeleteRecord(ctx, "test", ks.ID); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), PropSigningKeystore) {
			t.Errorf("DeleteRecord(in use) = %v, want ErrInUse naming the property", err)
		}
		if err := s.SetActive(ctx, "test", p12.ID, false); !errors.Is(err, ErrInUse) {
			t.Errorf("SetActive(in use, false) = %v, want ErrInUse", err)
		}
		if err := s.DeleteRecord(ctx, "test", cert.ID); err != nil {
			t.Errorf("DeleteRecord(unused) = %v", err)
		}
		if err := s.DeleteRecord(ctx, "test", cert.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteRecord(deleted) = %v, want ErrNotFound", err)
		}
		if err := s.SetActive(ctx, "test", cert.ID, true); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetActive(deleted) = %v, want ErrNotFound", err)
		}
		// Clearing one property frees the record and leaves the other alone.
		if err := s.SetProperty(ctx, "test", PropSigningKeystore, ""); err != nil {
			t.Fatal(err)
		}
		assertProp(t, s, PropEncryptionKeystore, p12.ID)
		if err := s.DeleteRecord(ctx, "test", ks.ID); err != nil {
			t.Errorf("DeleteRecord after clearing the property: %v", err)
		}
	})
}

func TestAuditAndChangeCounter(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		clock := &fixedClock{t: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)}
		o.Now = clock.Now
		s := open(t, o)
		c0, err := s.ChangeCounter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r := addFixture(t, s, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		clock.Add(time.Minute)
		steps := []func() error{
			func() error { return s.SetProperty(ctx, "alice", PropSigningKeystore, r.ID) },
			func() error { return s.SetProperty(ctx, "alice", PropSigningKeystore, r.ID) }, // no change: no entry
			func() error { return s.SetProperty(ctx, "app1", PropSigningKeystore, "") },
			func() error { return s.SetActive(ctx, "bob", r.ID, false) },
			func() error { return s.SetActive(ctx, "bob", r.ID, true) },
			func() error { return s.DeleteRecord(ctx, "bob", r.ID) },
		}
		for _, step := range steps {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		c1, _ := s.ChangeCounter(ctx)
		if c1-c0 != 6 {
			t.Errorf("change counter moved by %d over 6 changes", c1-c0)
		}
		entries, err := s.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, strings.Join([]string{e.Actor, e.Action, e.Object, e.Before, e.After}, " "))
		}
		want := []string{
			"test record.add " + r.ID + "  sp",
			"alice property.set " + PropSigningKeystore + "  " + r.ID,
			"app1 property.set " + PropSigningKeystore + " " + r.ID + " ",
			"bob record.deactivate " + r.ID + " active inactive",
			"bob record.activate " + r.ID + " inactive active",
			"bob record.delete " + r.ID + " sp ",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if !entries[0].At.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) || !entries[1].At.Equal(clock.Now()) {
			t.Errorf("audit times %v, %v do not follow the injected clock", entries[0].At, entries[1].At)
		}
		j, _ := json.Marshal(entries)
		assertNoSentinel(t, "audit JSON", string(j))
	})
}

// TestNoPasswordInClear looks for the sentinel passwords in every byte the
// store wrote: the SQLite files, and every PostgreSQL row as text.
func TestNoPasswordInClear(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		var logs syncBuffer
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		s := open(t, o)
		r := addFixture(t, s, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		if err := s.SetProperty(ctx, "test", PropSigningKeystore, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddRecord(ctx, "test", NewRecord{Name: "bad", Type: TypeJavaKeyStore, Data: readFixture(t, "sp.jks"),
			StorePassword: secret.FromString(sentinelKeyPass)}); err == nil {
			t.Fatal("wrong password accepted")
		} else {
			assertNoSentinel(t, "error", fmt.Sprintf("%v|%+v|%#v", err, err, err))
		}
		recs, err := s.Records(ctx)
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSentinel(t, "records JSON", string(j))
		assertNoSentinel(t, "records %+v", fmt.Sprintf("%+v %#v %v", *recs[0], *recs[0], recs))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		assertNoSentinel(t, "logs", logs.String())

		var dump []byte
		if o.DatabaseURL == "" {
			files, _ := filepath.Glob(filepath.Join(o.DataDir, "*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
		} else {
			dump = pgDump(t, o.DatabaseURL)
		}
		if !bytes.Contains(dump, []byte(r.FingerprintSHA256)) {
			t.Fatal("dump does not hold the record: the scan looks in the wrong place")
		}
		for _, p := range []string{sentinelStorePass, sentinelKeyPass} {
			for _, enc := range []string{p, hex.EncodeToString([]byte(p))} {
				if bytes.Contains(dump, []byte(enc)) {
					t.Errorf("the database holds password %q in clear", p)
				}
			}
		}
	})
}

// pgDump returns every row of the store's tables as text (bytea as hex).
func pgDump(t *testing.T, dbURL string) []byte {
	t.Helper()
	db, _, err := openDB(context.Background(), Options{DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []byte
	for _, table := range []string{"records", "properties", "audit", "meta", "changes", "schema_migrations"} {
		rows, err := db.Query(`SELECT CAST(t AS text) FROM ` + table + ` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s...)
		}
		rows.Close()
	}
	return append(out, pgDumpTool(t, dbURL)...)
}

// pgDumpTool returns what pg_dump writes for the test's schema, when
// pg_dump is installed (Debian keeps it in /usr/lib/postgresql/N/bin).
func pgDumpTool(t *testing.T, dbURL string) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			t.Log("pg_dump not installed: checked the rows only")
			return nil
		}
		bin = found[len(found)-1]
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	schema := q.Get("search_path")
	q.Del("search_path") // libpq refuses parameters it does not know
	u.RawQuery = q.Encode()
	out, err := exec.Command(bin, "--schema="+schema, "--dbname="+u.String()).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(out, []byte("CREATE TABLE "+schema+".records")) {
		t.Fatalf("pg_dump output has no records table:\n%.500s", out)
	}
	return out
}

func TestWrongMasterKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		addFixture(t, s, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		o.MasterKey = secret.FromString(strings.Repeat("17", 32))
		_, err := Open(context.Background(), o)
		if !errors.Is(err, ErrWrongMasterKey) || err.Error() != "cannot unseal keystore passwords: wrong master key?" {
			t.Errorf("Open with another master key = %v, want %q", err, ErrWrongMasterKey)
		}
	})
}

func TestMasterKeyFile(t *testing.T) {
	ctx := context.Background()
	good := "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=\n" // base64 of 32 bytes
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr error
		wantMsg string
	}{
		{"0600 base64", good, 0o600, nil, ""},
		{"0400 hex", strings.Repeat("ab", 32), 0o400, nil, ""},
		{"group readable", good, 0o640, ErrUnsafeMasterKey, "chmod 600"},
		{"world readable", good, 0o604, ErrUnsafeMasterKey, "chmod 600"},
		{"too short", "c2hvcnQ=", 0o600, nil, "openssl rand -base64 32"},
		{"not base64", strings.Repeat("!", 44), 0o600, nil, "32 random bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "key")
			if err := os.WriteFile(f, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(f, tt.mode); err != nil {
				t.Fatal(err)
			}
			s, err := Open(ctx, Options{DataDir: filepath.Join(dir, "data"), MasterKeyFile: f, NoBaseKeystores: true})
			if tt.wantErr == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_ = s.Close()
				return
			}
			if err == nil {
				_ = s.Close()
				t.Fatal("Open accepted the key file")
			}
			if (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), f) {
				t.Errorf("Open error = %v, want %v naming %q and containing %q", err, tt.wantErr, f, tt.wantMsg)
			}
		})
	}
}

// TestFilePermissions: under umask 000 the data directory is 0700 and every
// file the store writes (database, WAL, master key) 0600. It changes the
// process umask, so it does not run in parallel.
func TestFilePermissions(t *testing.T) {
	old := setUmask(0)
	defer setUmask(old)
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(context.Background(), Options{DataDir: dir, NoBaseKeystores: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddRecord(context.Background(), "test", NewRecord{Name: "c", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", fi.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	names := map[string]bool{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		names[filepath.Base(f)] = true
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
	if !names[sqliteFile] || !names[masterKeyFile] || !names[sqliteFile+"-wal"] {
		t.Errorf("data directory holds %v, want the database, its WAL and the master key", names)
	}
	_ = s.Close()
	// A loosened database and directory are tightened again; the key
	// created on first start opens the store again.
	if err := os.Chmod(filepath.Join(dir, sqliteFile), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	s, err = Open(context.Background(), Options{DataDir: dir, NoBaseKeystores: true})
	if err != nil {
		t.Fatalf("reopen with the created master key: %v", err)
	}
	_ = s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, sqliteFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s after reopening: mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
}

// TestConcurrentWriters runs writers on separate Stores (separate
// connection pools, as separate processes would have) against one database
// and checks that no update is lost.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		first := open(t, o)
		rec := addFixture(t, first, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
		c0, _ := first.ChangeCounter(ctx)
		const writers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			s := open(t, o)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if err := s.SetProperty(ctx, fmt.Sprintf("w%d", w), fmt.Sprintf("test.w%d", w), fmt.Sprint(i)); err != nil {
						errs <- err
					}
					// All writers toggle the same record: each change is counted.
					if err := s.SetProperty(ctx, "x", PropSigningKeystore, map[bool]string{true: rec.ID, false: ""}[i%2 == 0]); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for w := range writers {
			if v, _, _ := first.Property(ctx, fmt.Sprintf("test.w%d", w)); v != fmt.Sprint(each-1) {
				t.Errorf("writer %d's last value lost: %q", w, v)
			}
		}
		entries, err := first.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c1, _ := first.ChangeCounter(ctx)
		// Every audit entry after the add is one change; the counter agrees.
		if int64(len(entries)-1) != c1-c0 {
			t.Errorf("%d audited changes but the counter moved by %d", len(entries)-1, c1-c0)
		}
		if c1-c0 < writers*each {
			t.Errorf("counter moved by %d, want at least %d", c1-c0, writers*each)
		}
	})
}

func TestWithLock(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		a := open(t, o)
		b := a
		if o.DatabaseURL != "" {
			b = open(t, o) // another replica
		}
		name := "rotate-" + t.Name()
		ran, err := a.WithLock(ctx, name, func(ctx context.Context) error {
			ran, err := b.WithLock(ctx, name, func(context.Context) error {
				t.Error("second holder ran while the first held the lock")
				return nil
			})
			if ran || err != nil {
				t.Errorf("inner WithLock = %v, %v; want false, nil", ran, err)
			}
			return errors.New("job failed")
		})
		if !ran || err == nil || err.Error() != "job failed" {
			t.Errorf("WithLock = %v, %v; want true and the job's error", ran, err)
		}
		// Released: the other replica runs it now.
		ran, err = b.WithLock(ctx, name, func(context.Context) error { return nil })
		if !ran || err != nil {
			t.Errorf("WithLock after release = %v, %v; want true, nil", ran, err)
		}
	})
}

func TestMigrateDryRun(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		pending, err := Migrate(ctx, o, true)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(pending) != fmt.Sprint(Migrations()) {
			t.Errorf("dry run on an empty store = %v, want all %v", pending, Migrations())
		}
		if o.DatabaseURL == "" {
			if _, err := os.Stat(o.DataDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("dry run created %s", o.DataDir)
			}
		}
		applied, err := Migrate(ctx, o, false)
		if err != nil || len(applied) != len(Migrations()) {
			t.Fatalf("Migrate = %v, %v", applied, err)
		}
		if pending, err := Migrate(ctx, o, true); err != nil || len(pending) != 0 {
			t.Errorf("dry run on a migrated store = %v, %v; want none", pending, err)
		}
	})
}

func TestValidateRecord(t *testing.T) {
	ctx := context.Background()
	o := Options{DataDir: t.TempDir(), MasterKey: testMasterKey, NoBaseKeystores: true}
	clock := &fixedClock{t: time.Now()}
	o.Now = clock.Now
	s := open(t, o)
	r := addFixture(t, s, "sp", TypeJavaKeyStore, "sp.jks", sentinelStorePass, sentinelKeyPass)
	v, err := s.ValidateRecord(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Report.Valid() {
		t.Errorf("fresh keystore invalid: %v", v.Report.Problems)
	}
	clock.Add(20 * 365 * 24 * time.Hour)
	v, err = s.ValidateRecord(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Report.Valid() || !strings.Contains(strings.Join(v.Report.Problems, ";"), "expired") {
		t.Errorf("keystore 20 years on: problems %v, want expired", v.Report.Problems)
	}
}

// TestConcurrentFirstStart opens one fresh store from several replicas at
// once: they migrate one at a time, agree on one master key, and create
// each base keystore exactly once. Only the replica that inserted them
// says so, and the change counter moves once.
func TestConcurrentFirstStart(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		if o.DatabaseURL == "" {
			o.MasterKey = secret.Value{} // the replicas race to create master.key too
		}
		const replicas = 3
		stores := make([]*Store, replicas)
		errs := make([]error, replicas)
		logs := make([]syncBuffer, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			o := o
			o.Logger = slog.New(slog.NewTextHandler(&logs[i], nil))
			wg.Go(func() { stores[i], errs[i] = Open(ctx, o) })
		}
		wg.Wait()
		announced := 0
		for i := range logs {
			announced += strings.Count(logs[i].String(), "created base system keystores")
		}
		if announced != 1 {
			t.Errorf("%d replicas logged \"created base system keystores\", want 1", announced)
		}
		if n, err := stores[0].ChangeCounter(ctx); err != nil || n != 1 {
			t.Errorf("change counter after concurrent first starts = %d, %v; want 1", n, err)
		}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			t.Cleanup(func() { _ = stores[i].Close() })
		}
		for i, s := range stores {
			recs, err := s.Records(ctx) // every replica unseals every record
			if err != nil {
				t.Fatalf("replica %d: %v", i, err)
			}
			if len(recs) != 4 {
				t.Errorf("replica %d sees %d records, want 4", i, len(recs))
			}
		}
		entries, err := stores[0].Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		adds, sets := 0, 0
		for _, e := range entries {
			switch e.Action {
			case ActionRecordAdd:
				adds++
			case ActionPropertySet:
				sets++
			}
		}
		if adds != 4 || sets != 2 {
			t.Errorf("audit has %d record adds and %d property sets, want 4 and 2", adds, sets)
		}
		assertProp(t, stores[1], PropSigningKeystore, BaseSigningID)
		assertProp(t, stores[2], PropEncryptionKeystore, BaseEncryptionID)
	})
}

// TestFailedWriteLeavesNoTrace breaks a change halfway (its audit entry
// cannot be written) and checks that none of it is left: every change is
// one transaction.
func TestFailedWriteLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		c0, _ := s.ChangeCounter(ctx)
		if _, err := s.db.Exec(`DROP TABLE audit`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddRecord(ctx, "test", NewRecord{Name: "c", Type: TypeTrustStoreCert, Data: readFixture(t, "cert.pem")}); err == nil {
			t.Fatal("AddRecord succeeded without an audit table")
		}
		if err := s.SetProperty(ctx, "test", "samlkeyd.x", "1"); err == nil {
			t.Fatal("SetProperty succeeded without an audit table")
		}
		if recs, err := s.Records(ctx); err != nil || len(recs) != 0 {
			t.Errorf("after a failed add: %d records, %v", len(recs), err)
		}
		assertProp(t, s, "samlkeyd.x", "")
		if c1, _ := s.ChangeCounter(ctx); c1 != c0 {
			t.Errorf("change counter moved %d -> %d for failed changes", c0, c1)
		}
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, o Options) {
		o.NoBaseKeystores = true
		s := open(t, o)
		if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (99, 'future', '')`); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		_, err := Open(context.Background(), o)
		if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") || !strings.Contains(err.Error(), "upgrade samlkeyd") {
			t.Errorf("Open of a newer store = %v, want a refusal saying to upgrade", err)
		}
	})
}
