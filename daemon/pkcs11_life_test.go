//go:build cgo

package daemon

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// tokenDaemon is a SoftHSM2 token and a daemon whose signing property
// selects a key in it; the daemon's token keys are closed at the end (the
// module is then finalised, and the next test's SOFTHSM2_CONF is read).
func tokenDaemon(t *testing.T, cfg *config.Config) (*Daemon, *store.Store, *tooltest.SoftHSM, string) {
	t.Helper()
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, tokenLabel, tokenPIN, "0815-so-PIN")
	st := openStore(t)
	id, _ := tokenRecord(t, s, st, tokenLabel, "sp-signing", tokenPIN)
	if err := st.SetProperty(context.Background(), "test", store.PropSigningKeystore, id); err != nil {
		t.Fatal(err)
	}
	cfg.PKCS11 = config.PKCS11{Module: s.Module}
	d := newDaemon(t, cfg, st)
	t.Cleanup(d.closeTokens)
	return d, st, s, id
}

// signsWith checks that the daemon's AuthnRequest verifies with cert.
func signsWith(t *testing.T, d *Daemon, cert *x509.Certificate) {
	t.Helper()
	msg, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
	if err != nil {
		t.Fatalf("sign an AuthnRequest: %v", err)
	}
	if err := verifyRedirectSignature(msg.URL, cert); err != nil {
		t.Fatalf("the AuthnRequest does not verify with %s: %v", cert.Subject, err)
	}
}

// TestPKCS11DaemonRotation: the daemon's rotation (generate-next, then
// promote) of a use whose key is in a token generates the next key in the
// token, sensitive and not extractable; after promotion the daemon signs
// with it, through the token, and the signature verifies with the
// certificate the metadata publishes. The key it replaced stays open (it
// is still published); a token key no snapshot serves is closed.
func TestPKCS11DaemonRotation(t *testing.T) {
	cfg := testConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{KeyAlg: "RSA", KeySize: 2048, Validity: 90 * day, RotateBefore: 30 * day,
		PublishFor: 7 * day, RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	d, st, s, oldID := tokenDaemon(t, cfg)
	d.tokenKeys.grace = time.Millisecond
	ctx := context.Background()
	steps, err := d.rotate(ctx, keys.UseSigning, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Kind != lifecycle.StepGenerateNext || steps[1].Kind != lifecycle.StepPromote {
		t.Fatalf("steps %+v, want generate_next then promote", steps)
	}
	newID := steps[0].KeyID
	rec, err := st.Record(ctx, newID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := rec.PKCS11URI()
	if err != nil {
		t.Fatalf("the rotated key's record: %v", err)
	}
	flags := s.KeyAccess(t, tokenLabel, tokenPIN, u.Object)
	if !flags["sensitive"] || flags["extractable"] {
		t.Fatalf("pkcs11-tool -O: the rotated key's Access flags %v: want sensitive, not extractable", flags)
	}
	snap := d.Snapshot()
	if cur := snap.Keys.Current(keys.UseSigning); cur.RecordID != newID {
		t.Fatalf("the daemon signs with %s, want the promoted %s", cur.RecordID, newID)
	}
	published, _ := metadataCerts(t, get(t, d.Handler(), "/saml/metadata").Body.Bytes())
	if len(published) != 2 || string(published[0]) != string(rec.Chain()[0].Raw) {
		t.Fatalf("metadata publishes %d signing certificates, want the rotated one first and the retired one", len(published))
	}
	signsWith(t, d, rec.Chain()[0])
	if n := len(snap.cache.tokens); n != 2 {
		t.Fatalf("the snapshot holds %d token keys, want the new and the retired one", n)
	}

	// Selecting a keystore instead and deactivating both token records
	// drops their keys from the snapshot: they are closed after the grace
	// delay.
	held := snap.cache.tokens
	if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, baseSigningID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{oldID, newID} {
		if err := st.SetActive(ctx, "test", id, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Rebuild(ctx, "test", nil); err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for ok, k := range held {
		if _, still := d.Snapshot().cache.tokens[ok]; still {
			continue
		}
		dropped++
		deadline := time.Now().Add(5 * time.Second)
		for k.Check() == nil && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := k.Check(); !errors.Is(err, pkcs11.ErrTokenGone) {
			t.Errorf("token key %s no snapshot holds is still open: %v", k.URI(), err)
		}
	}
	if dropped != 2 || len(d.Snapshot().cache.tokens) != 0 {
		t.Fatalf("%d token keys left the snapshot, %d stayed: want both to leave", dropped, len(d.Snapshot().cache.tokens))
	}
}

// TestPKCS11DaemonTokenReturns: the token is taken away under the serving
// daemon: the token check reports a failed "token" component naming the
// record and signing fails; when the token is back the check reconnects the
// key and the daemon signs with it again, without a rebuild.
func TestPKCS11DaemonTokenReturns(t *testing.T) {
	d, st, s, id := tokenDaemon(t, testConfig())
	rec, err := st.Record(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	signsWith(t, d, rec.Chain()[0])
	d.checkTokens()
	if c := tokenComponent(d, KindToken, id); c == nil || !c.OK {
		t.Fatalf("token component with the token present: %+v", c)
	}
	away := t.TempDir()
	entries, err := os.ReadDir(s.TokenDir)
	if err != nil {
		t.Fatal(err)
	}
	move := func(from, to string) {
		for _, e := range entries {
			if err := os.Rename(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	move(s.TokenDir, away)
	d.checkTokens()
	c := tokenComponent(d, KindToken, id)
	if c == nil || c.OK || !strings.Contains(c.Error, id) || !strings.Contains(c.Error, "sp-signing") || strings.Contains(c.Error, tokenPIN) {
		t.Fatalf("token component with the token away: %+v, want failed naming record %s (\"sp-signing\")", c, id)
	}
	t.Logf("token away: %s", c.Error)
	if _, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"}); err == nil {
		t.Fatal("signed with the token away")
	}
	w := get(t, d.Handler(), "/readyz")
	if !strings.Contains(w.Body.String(), `"kind":"token"`) {
		t.Errorf("/readyz does not list the token component: %s", w.Body)
	}
	move(away, s.TokenDir)
	d.checkTokens()
	if c := tokenComponent(d, KindToken, id); c == nil || !c.OK {
		t.Fatalf("token component with the token back: %+v", c)
	}
	signsWith(t, d, rec.Chain()[0])
}

func tokenComponent(d *Daemon, kind, name string) *ComponentStatus {
	for _, c := range d.Components() {
		if c.Kind == kind && c.Name == name {
			return &c
		}
	}
	return nil
}

// TestPKCS11DaemonMTLS: a protocol profile whose keystore is a pkcs11
// record: the daemon's mTLS check passes against openssl s_server
// -Verify 1 -verify_return_error trusting the token key's certificate.
func TestPKCS11DaemonMTLS(t *testing.T) {
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, tokenLabel, tokenPIN, "0815-so-PIN")
	st := openStore(t)
	_, clientCert := tokenRecord(t, s, st, tokenLabel, "partner-mtls", tokenPIN)
	addr, serverCert := sServer(t, clientCert)
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverCert.Raw})
	if _, err := st.AddRecord(context.Background(), "test", store.NewRecord{Name: "Partner server", Type: store.TypeTrustStoreCert, Data: serverPEM}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.PKCS11 = config.PKCS11{Module: s.Module}
	cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: "partner-mtls", DefaultPort: 443, TrustStore: []string{"Partner server"}}}
	cfg.Checks = []config.Check{{Name: "partner", URL: "mhttps://" + addr + "/", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: 10 * time.Second}}
	d := newDaemon(t, cfg, st)
	t.Cleanup(d.closeTokens)
	w := postJSON(t, d.Handler(), "/api/v1/checks/partner/run", adminToken, "")
	var res map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &res); w.Code != http.StatusOK || err != nil {
		t.Fatalf("run check: %d %s", w.Code, w.Body)
	}
	if res["ok"] != true {
		t.Fatalf("mTLS check with the token key against openssl s_server: %v", res)
	}
}

// sServer runs openssl s_server on a loopback port with a certificate for
// 127.0.0.1, requiring a client certificate issued by (here: equal to)
// clientCA, and returns its address and certificate.
func sServer(t *testing.T, clientCA *x509.Certificate) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	files := map[string][]byte{
		"srv.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"ca.pem":  keys.EncodePEM([]*x509.Certificate{clientCA}),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := tooltest.StartSServer(t, filepath.Join(dir, "srv.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem"))
	return addr, cert
}
