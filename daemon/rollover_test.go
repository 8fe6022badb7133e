package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// fakeClockDaemon is a daemon on a store and clock the test moves.
func fakeClockDaemon(t *testing.T, cfg *config.Config) (*Daemon, *store.Store, func() time.Time, func(time.Duration)) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0).UTC() }
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), MasterKey: secret.FromString(strings.Repeat("cd", 32)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := New(context.Background(), Options{Config: cfg, Store: st, Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d, st, now, func(dur time.Duration) { clock.Add(int64(dur / time.Second)) }
}

// TestManualRolloverAgainstARefetchingIdP is issue 14's procedure, without
// a rotation block: publish over the API, the IdP (recognised by its
// metadata user agent) re-fetches the metadata, promote, the IdP verifies
// every AuthnRequest with the certificates it fetched, and the old key
// leaves after the default retire_after — zero failed verifications.
func TestManualRolloverAgainstARefetchingIdP(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.IdPs[0].MetadataUserAgent = "CorpIdP-Refresh"
	cfg.IdPs[0].MetadataUserAgentTrusted = true // recognised by User-Agent alone, as the operator allowed
	d, st, _, advance := fakeClockDaemon(t, cfg)
	h := d.Handler()

	// The IdP: the signing certificates of the metadata it last fetched.
	var idpCerts []*x509.Certificate
	var idpMetadata []byte
	var seen []idpView // each login as the IdP saw it, for pysaml2
	idpFetch := func() {
		t.Helper()
		w := get(t, h, "/saml/metadata", "User-Agent", "CorpIdP-Refresh/2.1")
		if w.Code != http.StatusOK {
			t.Fatalf("IdP metadata fetch: %d", w.Code)
		}
		idpMetadata = w.Body.Bytes()
		signing, _ := metadataCerts(t, w.Body.Bytes())
		idpCerts = nil
		for _, der := range signing {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			idpCerts = append(idpCerts, c)
		}
	}
	failures, verified := 0, 0
	login := func(stage string) *sp.ReceivedMessage {
		t.Helper()
		msg, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, idpView{metadata: idpMetadata, url: msg.URL})
		u, _ := url.Parse(msg.URL)
		got, err := sp.VerifyRedirect(u.RawQuery, idpCerts, false)
		if err != nil {
			failures++
			t.Errorf("%s: the IdP rejects the AuthnRequest: %v", stage, err)
		}
		verified++
		return got
	}
	idpFetch()
	login("before")
	base := certOf(t, st, baseSigningID)

	if w := postJSON(t, h, "/api/v1/rotations/signing/publish", testToken, ``); w.Code != http.StatusForbidden {
		t.Fatalf("a sign-scope token published: %d", w.Code)
	}
	w := postJSON(t, h, "/api/v1/rotations/signing/publish", adminToken, ``)
	var pub struct {
		Record string `json:"record_id"`
		Action string `json:"action"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pub); w.Code != http.StatusOK || err != nil || pub.Action != "published" {
		t.Fatalf("publish: %d %s", w.Code, w.Body)
	}
	next := certOf(t, st, pub.Record)
	if s, _ := metadataCerts(t, get(t, h, "/saml/metadata").Body.Bytes()); len(s) != 2 || string(s[0]) != string(base.Raw) || string(s[1]) != string(next.Raw) {
		t.Fatal("metadata must list the next key after the current one")
	}
	login("published, IdP not refreshed") // the next key does not sign yet

	advance(time.Hour)
	w = postJSON(t, h, "/api/v1/rotations/signing/promote", adminToken, `{}`)
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), `"idp":"corp"`) {
		t.Fatalf("promote before the IdP re-fetched: %d %s", w.Code, w.Body)
	}
	login("promotion refused")

	advance(time.Hour)
	idpFetch() // the IdP's scheduled metadata refresh
	if len(idpCerts) != 2 {
		t.Fatalf("the IdP fetched %d signing certificates, want 2", len(idpCerts))
	}
	if w := postJSON(t, h, "/api/v1/rotations/signing/promote", adminToken, `{}`); w.Code != http.StatusOK {
		t.Fatalf("promote: %d %s", w.Code, w.Body)
	}
	login("promoted")
	msg, _ := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
	u, _ := url.Parse(msg.URL)
	if _, err := sp.VerifyRedirect(u.RawQuery, []*x509.Certificate{next}, false); err != nil {
		t.Fatalf("after promotion the new key must sign: %v", err)
	}

	// The old key stays for the default retire_after, then leaves.
	advance(lifecycle.DefaultRetireAfter - time.Hour)
	if err := d.Rebuild(ctx, "test", nil); err != nil {
		t.Fatal(err)
	}
	idpFetch()
	if len(idpCerts) != 2 {
		t.Fatal("the retired key left metadata before retire_after")
	}
	login("retired, inside retire_after")
	advance(2 * time.Hour)
	if err := d.Rebuild(ctx, "test", nil); err != nil {
		t.Fatal(err)
	}
	idpFetch()
	if len(idpCerts) != 1 || !idpCerts[0].Equal(next) {
		t.Fatalf("after retire_after the IdP got %d signing certificates, want the new one only", len(idpCerts))
	}
	login("after retire_after")

	// rotate status agrees with metadata.
	w = get(t, h, "/api/v1/rotations", "Authorization", "Bearer "+adminToken)
	var status lifecycle.Status
	if err := json.Unmarshal(w.Body.Bytes(), &status); err != nil {
		t.Fatal(err)
	}
	for _, k := range status.Uses[0].Keys {
		if k.RecordID == baseSigningID && (k.Kept || k.Listed) {
			t.Fatalf("status says the retired key is still published: %+v", k)
		}
	}
	if failures != 0 || verified != 6 {
		t.Fatalf("%d of %d verifications failed", failures, verified)
	}
	if !testing.Short() {
		// The last view is a control: the new key's signature against the
		// metadata fetched before the rollover must fail.
		control := idpView{metadata: seen[0].metadata, url: seen[len(seen)-1].url}
		got := verifyWithPysaml2(t, cfg.SP.EntityID, append(seen, control))
		for i, r := range got {
			if want := i < len(seen); (r == "ok") != want {
				t.Errorf("pysaml2 on login %d: %s", i, r)
			}
		}
	}
	audit, _ := st.Audit(ctx)
	byAPI := 0
	for _, a := range audit {
		if strings.HasPrefix(a.Action, "rotation.") && a.Actor == "api:ops" {
			byAPI++
		}
	}
	if byAPI != 2 {
		t.Fatalf("%d rotation audit entries by api:ops, want 2 (publish, promote)", byAPI)
	}
}

// TestRetiredKeyKeptWithoutPolicy: removing the rotation block after a
// promotion no longer drops the retired key at once.
func TestRetiredKeyKeptWithoutPolicy(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Rotation.Encryption = &config.RotationPolicy{Validity: 365 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, Schedule: "@daily"}
	d, st, now, _ := fakeClockDaemon(t, cfg)
	old, _, _ := st.Property(ctx, store.PropEncryptionKeystore)
	if _, err := d.rotate(ctx, keys.UseEncryption, true); err != nil {
		t.Fatal(err)
	}
	noBlock := testConfig()
	d.applyConfig(ctx, "test", noBlock)
	if d.Snapshot().Config.Rotation.Encryption != nil {
		t.Fatal("the config without a rotation block was not applied")
	}
	if _, enc := metadataCerts(t, get(t, d.Handler(), "/saml/metadata").Body.Bytes()); len(enc) != 2 {
		t.Fatalf("without the rotation block metadata lists %d encryption keys, want 2 (the retired one kept)", len(enc))
	}
	if len(d.Snapshot().Keys.Encryption) != 2 {
		t.Fatal("the retired encryption key no longer decrypts")
	}
	s, err := lifecycle.ReadStatus(ctx, noBlock, st, now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range s.Uses[1].Keys {
		if k.RecordID == old && (k.State != lifecycle.StateRetired || !k.Kept || !k.Listed) {
			t.Fatalf("status of the retired key: %+v", k)
		}
	}
}

// TestReplaceModePublish: a replace-mode next encryption key is the only
// encryption certificate in metadata; both keys decrypt.
func TestReplaceModePublish(t *testing.T) {
	d, st, _, _ := fakeClockDaemon(t, testConfig())
	h := d.Handler()
	cur, _, _ := st.Property(context.Background(), store.PropEncryptionKeystore)
	w := postJSON(t, h, "/api/v1/rotations/encryption/publish", adminToken, `{"mode":"replace"}`)
	var pub struct {
		Record string `json:"record_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &pub); w.Code != http.StatusOK || err != nil {
		t.Fatalf("publish replace: %d %s", w.Code, w.Body)
	}
	signing, enc := metadataCerts(t, get(t, h, "/saml/metadata").Body.Bytes())
	if len(enc) != 1 || string(enc[0]) != string(certOf(t, st, pub.Record).Raw) || len(signing) != 1 {
		t.Fatalf("metadata lists %d encryption certificates, want the next one alone", len(enc))
	}
	ks := d.Snapshot().Keys.Encryption
	if len(ks) != 2 || ks[0].RecordID != cur || !ks[0].Unpublished || ks[1].Unpublished {
		t.Fatal("both encryption keys must decrypt, the current one unpublished")
	}
	if w := postJSON(t, h, "/api/v1/rotations/signing/publish", adminToken, `{"mode":"replace"}`); w.Code != http.StatusUnprocessableEntity {
		t.Fatalf("replace mode for signing: %d %s", w.Code, w.Body)
	}
	if w := postJSON(t, h, "/api/v1/rotations/encryption/cancel", adminToken, ``); w.Code != http.StatusOK {
		t.Fatalf("cancel: %d %s", w.Code, w.Body)
	}
	if _, enc := metadataCerts(t, get(t, h, "/saml/metadata").Body.Bytes()); len(enc) != 1 || string(enc[0]) != string(certOf(t, st, cur).Raw) {
		t.Fatal("after cancel metadata must list the current encryption key again")
	}
	if w := postJSON(t, h, "/api/v1/rotations/encryption/promote", adminToken, ``); w.Code != http.StatusConflict {
		t.Fatalf("promote with no next key: %d %s", w.Code, w.Body)
	}
	for body, want := range map[string]int{
		`{"bogus":1}`:                      http.StatusBadRequest,
		`{"mode":"sideways"}`:              http.StatusBadRequest,
		`{} {}`:                            http.StatusBadRequest,
		`{"record":"nobody"}`:              http.StatusNotFound,
		`{"record":"` + cur + `"}`:         http.StatusUnprocessableEntity,
		strings.Repeat(" ", maxBody) + `x`: http.StatusRequestEntityTooLarge,
	} {
		if w := postJSON(t, h, "/api/v1/rotations/encryption/publish", adminToken, body); w.Code != want {
			t.Errorf("publish with body %.40q: %d %s, want %d", body, w.Code, w.Body, want)
		}
	}
	if w := postJSON(t, h, "/api/v1/rotations/nothing/publish", adminToken, ``); w.Code != http.StatusNotFound {
		t.Fatalf("unknown use: %d", w.Code)
	}
}

// TestScheduledRotationLosingTheLock: a replica whose schedule fires while
// another holds the rotation lock counts a skip and alerts nobody.
func TestScheduledRotationLosingTheLock(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.Alerts.Webhook = &config.Webhook{URL: srv.URL}
	cfg.Rotation.Signing = &config.RotationPolicy{Validity: 365 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, Schedule: "@daily"}
	replica2 := newDaemon(t, cfg, st)
	ran, err := st.WithLock(ctx, lifecycle.LockName(keys.UseSigning), func(ctx context.Context) error {
		// Another replica holds the use's lock, as it does while running
		// the rollover; this replica's schedule fires in the same second.
		_, err := replica2.scheduledRotate(ctx, keys.UseSigning, true)
		return err
	})
	if !ran || err != nil {
		t.Fatalf("the losing replica's scheduled run: %v %v", ran, err)
	}
	body := get(t, replica2.Handler(), "/metrics").Body.String()
	if !strings.Contains(body, `samlkeyd_rotation_skipped_total{reason="other_replica",use="signing"} 1`) {
		t.Fatalf("no skip counted:\n%s", grepLines(body, "rotation"))
	}
	select {
	case a := <-got:
		t.Fatalf("losing the lock sent an alert: %v", a)
	case <-time.After(500 * time.Millisecond):
	}
}

// idpView is one login as the IdP saw it: the metadata it had fetched last
// and the redirect URL of the AuthnRequest.
type idpView struct {
	metadata []byte
	url      string
}

// verifyWithPysaml2 verifies each AuthnRequest as a pysaml2 IdP would,
// with the signing certificates of the metadata it had fetched, and returns
// one "ok" or "fail: …" per view (none when pysaml2 is not installed).
func verifyWithPysaml2(t *testing.T, entityID string, views []idpView) []string {
	t.Helper()
	py := ""
	for _, p := range []string{tooltest.Path(t, "python3"), "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import saml2").Run() == nil {
			py = p
			break
		}
	}
	if py == "" {
		if tooltest.Required() {
			t.Fatal("no python3 imports saml2 (Debian: python3-pysaml2)")
		}
		t.Log("pysaml2 not installed: the IdP's verification by pysaml2 is skipped")
		return nil
	}
	args := []string{filepath.Join("testdata", "pysaml2_idp_verify.py"), entityID}
	dir := t.TempDir()
	for i, v := range views {
		md := filepath.Join(dir, fmt.Sprintf("metadata-%d.xml", i))
		if err := os.WriteFile(md, v.metadata, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, md, v.url)
	}
	out, err := exec.Command(py, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("pysaml2: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(views) {
		t.Fatalf("pysaml2 answered %d lines for %d AuthnRequests:\n%s", len(lines), len(views), out)
	}
	return lines
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
