package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

const day = 24 * time.Hour

func TestRotationRollover(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(clock.Load(), 0).UTC() }
	advance := func(d time.Duration) { clock.Add(int64(d / time.Second)) }
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), MasterKey: secret.FromString(strings.Repeat("cd", 32)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := testConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{Validity: 90 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	cfg.IdPs[0].MetadataUserAgent = "CorpIdP-Refresh"
	cfg.IdPs[0].MetadataUserAgentTrusted = true // recognised by User-Agent alone, as the operator allowed
	d, err := New(ctx, Options{Config: cfg, Store: st, Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	base := certOf(t, st, baseSigningID)

	signing := func() [][]byte {
		s, _ := metadataCerts(t, get(t, d.Handler(), "/saml/metadata").Body.Bytes())
		return s
	}
	signWith := func(cert *x509.Certificate) {
		t.Helper()
		msg, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyRedirectSignature(msg.URL, cert); err != nil {
			t.Fatalf("AuthnRequest not signed by the expected key: %v", err)
		}
	}
	step := func(want ...lifecycle.StepKind) {
		t.Helper()
		steps, err := d.rotate(ctx, keys.UseSigning, false)
		if err != nil {
			t.Fatal(err)
		}
		var got []lifecycle.StepKind
		for _, s := range steps {
			got = append(got, s.Kind)
		}
		if len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
			t.Fatalf("rotation steps = %v, want %v", got, want)
		}
	}

	idpFetch := func() {
		t.Helper()
		if w := get(t, d.Handler(), "/saml/metadata", "User-Agent", "CorpIdP-Refresh/2.1"); w.Code != http.StatusOK {
			t.Fatalf("IdP metadata fetch: %d", w.Code)
		}
	}
	step() // two years left: nothing to do
	if len(signing()) != 1 {
		t.Fatal("a fresh store publishes more than one signing key")
	}
	idpFetch() // the IdP knows the current key

	// 29 days before the base key expires: a next key is published, the
	// base key still signs.
	clock.Store(base.NotAfter.Add(-29 * day).Unix())
	step(lifecycle.StepGenerateNext)
	pub := signing()
	if len(pub) != 2 || string(pub[0]) != string(base.Raw) {
		t.Fatalf("after publishing: %d signing keys, current first = %v", len(pub), string(pub[0]) == string(base.Raw))
	}
	next, err := x509.ParseCertificate(pub[1])
	if err != nil {
		t.Fatal(err)
	}
	signWith(base)

	// publish_for passes, but the IdP has not fetched the next key yet.
	advance(7*day + time.Hour)
	step()
	idpFetch() // now it has
	step(lifecycle.StepPromote)
	pub = signing()
	if len(pub) != 2 || string(pub[0]) != string(next.Raw) || string(pub[1]) != string(base.Raw) {
		t.Fatal("after promotion metadata must list the new key first and keep the old one")
	}
	signWith(next)
	if id, _, _ := st.Property(ctx, store.PropSigningKeystore); id == baseSigningID {
		t.Fatal("the signing property still points at the base keystore")
	}

	// retire_after passes: the old key leaves metadata.
	advance(14*day + time.Hour)
	step(lifecycle.StepDeactivate)
	if pub := signing(); len(pub) != 1 || string(pub[0]) != string(next.Raw) {
		t.Fatalf("after retire_after: %d signing keys", len(pub))
	}
}

func TestRotationAPINow(t *testing.T) {
	st := openStore(t)
	cfg := testConfig()
	cfg.Rotation.Encryption = &config.RotationPolicy{Validity: 365 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, Schedule: "@daily"}
	d := newDaemon(t, cfg, st)
	h := d.Handler()
	ctx := context.Background()
	oldEnc, _, _ := st.Property(ctx, store.PropEncryptionKeystore)

	if w := postJSON(t, h, "/api/v1/rotations", testToken, `{"use":"encryption","now":true}`); w.Code != http.StatusForbidden {
		t.Fatalf("sign-scope token rotated: %d", w.Code)
	}
	w := postJSON(t, h, "/api/v1/rotations", adminToken, `{"use":"encryption","now":true}`)
	if w.Code != http.StatusOK {
		t.Fatalf("rotate now: %d %s", w.Code, w.Body)
	}
	var out struct{ Steps []lifecycle.Step }
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	if len(out.Steps) != 2 || out.Steps[0].Kind != lifecycle.StepGenerateNext || out.Steps[1].Kind != lifecycle.StepPromote {
		t.Fatalf("steps: %s", w.Body)
	}
	newEnc, _, _ := st.Property(ctx, store.PropEncryptionKeystore)
	if newEnc == oldEnc {
		t.Fatal("the encryption property did not move")
	}
	_, enc := metadataCerts(t, get(t, h, "/saml/metadata").Body.Bytes())
	if len(enc) != 2 || string(enc[1]) != string(certOf(t, st, oldEnc).Raw) || string(enc[0]) != string(certOf(t, st, newEnc).Raw) {
		t.Fatal("metadata must publish the new encryption key first and keep the previous one (it still decrypts)")
	}
	if w := get(t, h, "/api/v1/rotations", "Authorization", "Bearer "+testToken); w.Code != http.StatusForbidden {
		t.Fatalf("sign-scope token read the rotation status: %d", w.Code)
	}
	w = get(t, h, "/api/v1/rotations", "Authorization", "Bearer "+adminToken)
	var status lifecycle.Status
	if err := json.Unmarshal(w.Body.Bytes(), &status); w.Code != http.StatusOK || err != nil || len(status.Uses) != 2 {
		t.Fatalf("rotation status: %d %v %s", w.Code, err, w.Body)
	}
	if enc := status.Uses[1]; enc.Use != keys.UseEncryption || !enc.Configured || len(enc.Keys) != 2 ||
		enc.Keys[0].RecordID != oldEnc || enc.Keys[0].State != lifecycle.StateRetired || enc.Keys[1].RecordID != newEnc || !enc.Keys[1].Selected {
		t.Fatalf("encryption status after rotating now: %+v", enc)
	}
	if strings.Contains(w.Body.String(), "password") {
		t.Fatal("the rotation status mentions a password")
	}
	if w := postJSON(t, h, "/api/v1/rotations", adminToken, `{"use":"signing"}`); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "not configured") {
		t.Fatalf("rotating an unconfigured use: %d %s", w.Code, w.Body)
	}
}

func TestRotationPolicyIsItsOwnComponent(t *testing.T) {
	st := openStore(t)
	cfg := testConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{RotateBefore: 10 * day, PublishFor: 7 * day, RetireAfter: day, Schedule: "@daily"}
	snap, err := Build(context.Background(), cfg, st, BuildOptions{})
	if err != nil {
		t.Fatalf("a bad rotation policy failed the build: %v", err)
	}
	if f := snap.Failed(); len(f) != 1 || f[0].Kind != KindRotation || f[0].Name != "signing" || !strings.Contains(f[0].Error, "rotation.signing") {
		t.Fatalf("a policy whose publish_for+max_wait reaches rotate_before: failed components = %+v", f)
	}
}
