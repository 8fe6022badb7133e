package daemon

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/openssl"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// wantBackendKey fails unless k is what the binary's backend serves: the
// *rsa.PrivateKey itself in the default build, an OpenSSL key otherwise.
func wantBackendKey(t *testing.T, what string, k crypto.Signer) {
	t.Helper()
	_, isGo := k.(*rsa.PrivateKey)
	if isGo != (openssl.Backend() == "go") {
		t.Fatalf("%s: backend %q serves a %T", what, openssl.Backend(), k)
	}
	if _, ok := k.(crypto.Decrypter); !ok {
		t.Fatalf("%s: %T cannot decrypt", what, k)
	}
}

// TestServedKeysUseBackend: the snapshot's RSA keys are the backend's, the
// signing API's signatures verify with the published certificate, the
// encryption key decrypts, and a rebuild of the same record versions
// serves the very same imported keys (imported once, not per snapshot).
func TestServedKeysUseBackend(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	snap := d.Snapshot()
	sign, enc := snap.Keys.Current(keys.UseSigning), snap.Keys.Current(keys.UseEncryption)
	wantBackendKey(t, "signing key", sign.Signer)
	wantBackendKey(t, "encryption key", enc.Signer)
	t.Logf("backend %s serves %T", openssl.Backend(), sign.Signer)

	w := postJSON(t, d.Handler(), "/api/v1/authn-requests", testToken, `{"idp":"corp","binding":"redirect"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("authn request: %d %s", w.Code, w.Body)
	}
	var msg struct{ URL string }
	if err := json.Unmarshal(w.Body.Bytes(), &msg); err != nil {
		t.Fatal(err)
	}
	if err := verifyRedirectSignature(msg.URL, sign.Leaf()); err != nil {
		t.Fatalf("the API's signature does not verify with the published certificate: %v", err)
	}
	pub := enc.Leaf().PublicKey.(*rsa.PublicKey)
	session := []byte("0123456789abcdef0123456789abcdef")
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		o := &rsa.OAEPOptions{Hash: h, MGFHash: crypto.SHA1}
		ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, session, o)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := enc.Signer.(crypto.Decrypter).Decrypt(rand.Reader, ct, o)
		if err != nil || string(pt) != string(session) {
			t.Fatalf("OAEP %v: decrypt = %q, %v", h, pt, err)
		}
	}

	if err := d.Rebuild(context.Background(), "test", nil); err != nil {
		t.Fatal(err)
	}
	again := d.Snapshot()
	if again == snap {
		t.Fatal("Rebuild kept the snapshot")
	}
	if again.Keys.Current(keys.UseSigning).Signer != sign.Signer || again.Keys.Current(keys.UseEncryption).Signer != enc.Signer {
		t.Fatal("a rebuild of the same record versions imported the keys again")
	}
}

// TestMTLSClientKeyUsesBackend: a check's client key is the backend's and
// authenticates against TLS 1.3 (RSA-PSS, salt length = hash, which
// crypto/tls verifies strictly) and TLS 1.2 servers.
func TestMTLSClientKeyUsesBackend(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	client := addKeystore(t, st, "Partner mTLS", "RSA", 2048)
	var checks []config.Check
	var trust []string
	for _, v := range []struct {
		name     string
		min, max uint16
	}{{"tls13", tls.VersionTLS13, tls.VersionTLS13}, {"tls12", tls.VersionTLS12, tls.VersionTLS12}} {
		srv := mtlsServer(t, certOf(t, st, client))
		srv.TLS.MinVersion, srv.TLS.MaxVersion = v.min, v.max
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if _, err := st.AddRecord(ctx, "test", store.NewRecord{Name: "server " + v.name, Type: store.TypeTrustStoreCert, Data: certPEM}); err != nil {
			t.Fatal(err)
		}
		trust = append(trust, "server "+v.name)
		u, _ := url.Parse(srv.URL)
		checks = append(checks, config.Check{Name: v.name, URL: "mhttps://" + u.Host + "/health", Schedule: "@every 1h",
			ParsedSchedule: cron.Every(time.Hour), Timeout: 5 * time.Second})
	}
	cfg := testConfig()
	cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: "Partner mTLS", DefaultPort: 443, TrustStore: trust, MinTLSVersion: "1.2"}}
	cfg.Checks = checks
	d := newDaemon(t, cfg, st)
	var entries int
	for k, e := range d.Snapshot().cache.entries {
		if k.id == client {
			wantBackendKey(t, "mTLS client key", e.Key)
			entries++
		}
	}
	if entries != 1 {
		t.Fatalf("%d cached entries of the client record, want 1", entries)
	}
	for _, c := range checks {
		w := postJSON(t, d.Handler(), "/api/v1/checks/"+c.Name+"/run", adminToken, "")
		var res map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != http.StatusOK {
			t.Fatalf("run %s: %d %s", c.Name, w.Code, w.Body)
		}
		if res["ok"] != true {
			t.Errorf("check %s with the %s client key: %v", c.Name, openssl.Backend(), res)
		}
	}
}

// TestBackendImportFailureFailsComponent: a key the OpenSSL backend
// cannot import (a three-prime RSA key) fails the profile that uses it
// with an error naming the record, and nothing else; the default build
// serves it.
func TestBackendImportFailureFailsComponent(t *testing.T) {
	st := openStore(t)
	id := addMultiPrimeKeystore(t, st, "Three primes")
	cfg := testConfig()
	cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: "Three primes", DefaultPort: 443}}
	snap, err := Build(context.Background(), cfg, st, BuildOptions{})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	failed := snap.Failed()
	if openssl.Backend() == "go" {
		if len(failed) != 0 {
			t.Fatalf("failed components = %+v, want none", failed)
		}
		return
	}
	if len(failed) != 1 || failed[0].Kind != KindProfile {
		t.Fatalf("failed components = %+v, want the profile", failed)
	}
	want := `certificate record ` + id + ` ("Three primes"): import its RSA key into the openssl backend`
	if !strings.Contains(failed[0].Error, want) {
		t.Fatalf("profile error = %q, want it to contain %q", failed[0].Error, want)
	}
}

// addMultiPrimeKeystore stores a PKCS#12 keystore whose key has three
// primes (crypto/rsa uses it; OpenSSL import is two-prime only).
func addMultiPrimeKeystore(t *testing.T, st *store.Store, name string) string {
	t.Helper()
	//lint:ignore SA1019 a three-prime key is the point: the OpenSSL backend refuses it.
	k, err := rsa.GenerateMultiPrimeKey(rand.Reader, 3, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pw := secret.FromString("changeit")
	e := &keys.Entry{Alias: "saml2sp", Created: time.Now(), Key: k, Chain: []*x509.Certificate{cert}}
	data, err := (&keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{e}}).Marshal(pw, pw)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.AddRecord(context.Background(), "test", store.NewRecord{
		Name: name, Type: store.TypePKCS12, Data: data, Alias: "saml2sp", StorePassword: pw, KeyPassword: pw,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID
}
