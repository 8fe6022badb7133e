//go:build cgo

package lifecycle

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

const (
	tokenLabel = "samlkeyd"
	tokenPIN   = "4711-user-PIN"
)

// tokenRig is a real store whose signing property selects a key in a
// SoftHSM2 token, and a config rotating RSA keys in it.
type tokenRig struct {
	hsm *tooltest.SoftHSM
	st  *store.Store
	cfg *config.Config
	cur *store.Record
}

func newTokenRig(t *testing.T, pin string) *tokenRig {
	t.Helper()
	r := &tokenRig{hsm: tooltest.NewSoftHSM(t)}
	r.hsm.InitToken(t, tokenLabel, tokenPIN, "0815-so-PIN")
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir(), MasterKey: secret.FromString(strings.Repeat("ab", 32))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r.st = st
	k, err := pkcs11.Generate(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: r.hsm.Module, URI: pkcs11.URI{Token: tokenLabel}, PIN: secret.FromString(tokenPIN)},
		Label:   "base-signing", DName: "CN=base", ValidityDays: 60,
	})
	if err != nil {
		t.Fatal(err)
	}
	chain := k.Chain()
	u := k.URI()
	_ = k.Close()
	if r.cur, err = st.AddRecord(ctx, "test", store.NewRecord{Name: "token signing", Type: store.TypePKCS11,
		Data: []byte(u.String()), StorePassword: secret.FromString(pin), Chain: chain}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, r.cur.ID); err != nil {
		t.Fatal(err)
	}
	r.cfg = &config.Config{PKCS11: config.PKCS11{Module: r.hsm.Module}}
	r.cfg.SP.EntityID = "https://sp.example.com/saml/metadata"
	r.cfg.Rotation.Signing = &config.RotationPolicy{KeyAlg: "RSA", KeySize: 2048, Validity: 90 * day, RotateBefore: 30 * day,
		PublishFor: 7 * day, RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	return r
}

// tokenKeys lists the labels of the private keys on the test token.
func (r *tokenRig) tokenKeys(t *testing.T) []string {
	t.Helper()
	tokens, err := pkcs11.List(r.hsm.Module, pkcs11.ListOptions{Token: tokenLabel, PIN: secret.FromString(tokenPIN)})
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, k := range tokens[0].Keys {
		labels = append(labels, k.Label)
	}
	return labels
}

// TestRotateInsideToken: with a pkcs11 record selected, a forced rotation
// generates the next key inside the same token (sensitive, not
// extractable, as pkcs11-tool shows), publishes it as a pkcs11 record with
// its self-signed chain and the same PIN, and promotes it; the key signs
// through the token and verifies with the published certificate.
func TestRotateInsideToken(t *testing.T) {
	r := newTokenRig(t, tokenPIN)
	ctx := context.Background()
	now := time.Now()
	steps, err := Rotate(ctx, r.cfg, r.st, keys.UseSigning, Options{Force: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Kind != StepGenerateNext || steps[1].Kind != StepPromote {
		t.Fatalf("steps = %+v, want generate_next then promote", steps)
	}
	id, _, err := r.st.Property(ctx, store.PropSigningKeystore)
	if err != nil || id != steps[0].KeyID {
		t.Fatalf("signing property = %q, %v; want the generated %s", id, err, steps[0].KeyID)
	}
	rec, err := r.st.Record(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	u, err := rec.PKCS11URI()
	if err != nil {
		t.Fatalf("the rotated record is not a pkcs11 record: %v", err)
	}
	wantLabel := "samlkeyd-signing-" + now.UTC().Format("2006-01-02") + "-" + id[:8]
	if u.Token != tokenLabel || u.Object != wantLabel || len(u.ID) == 0 {
		t.Fatalf("rotated URI %s, want token %s object %s with an id", u, tokenLabel, wantLabel)
	}
	if rec.StorePassword.String() == tokenPIN || string(rec.StorePassword.Reveal()) != tokenPIN {
		t.Fatal("the rotated record does not carry the token's PIN, sealed")
	}
	flags := r.hsm.KeyAccess(t, tokenLabel, tokenPIN, wantLabel)
	if !flags["sensitive"] || flags["extractable"] || !flags["never extractable"] {
		t.Fatalf("pkcs11-tool -O Access flags %v: want sensitive and not extractable", flags)
	}
	leaf := rec.Chain()[0]
	if !strings.Contains(leaf.Subject.CommonName, "sp.example.com SAML signing") || leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) != nil {
		t.Fatalf("published certificate %s is not the self-signed one made through the token", leaf.Subject)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 89*day || got > 91*day {
		t.Errorf("certificate validity %s, want the policy's 90 days", got)
	}
	k, err := pkcs11.Open(pkcs11.Options{Module: r.cfg.PKCS11.Module, URI: u, PIN: rec.StorePassword, Chain: rec.Chain()})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	d := sha256.Sum256([]byte("signed through the rotated token key"))
	sig, err := k.Signer().Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(leaf.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig); err != nil {
		t.Fatalf("a signature through the rotated key does not verify with its published certificate: %v", err)
	}
	// A manual publish generates in the token too.
	pub, err := Publish(ctx, r.cfg, r.st, keys.UseSigning, ManualOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if pub.Type != store.TypePKCS11 {
		t.Fatalf("rotate publish made a %s record, want pkcs11", pub.Type)
	}
}

// TestRotateInsideTokenFailures: a wrong PIN, a token gone, or a record
// that cannot be stored: the rotation fails naming the selected record and
// publishes nothing, and no key is left on the token.
func TestRotateInsideTokenFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		pin  string
		prep func(t *testing.T, r *tokenRig) Store
		want error
	}{
		{"wrong PIN", "9999-wrong-PIN", nil, pkcs11.ErrWrongPIN},
		{"token gone", tokenPIN, func(t *testing.T, r *tokenRig) Store {
			moveAway(t, r.hsm.TokenDir)
			return r.st
		}, pkcs11.ErrTokenNotFound},
		{"record not stored", tokenPIN, func(t *testing.T, r *tokenRig) Store {
			return failingPublish{r.st}
		}, errPublish},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTokenRig(t, tc.pin)
			var st Store = r.st
			before, _ := r.st.Records(context.Background())
			if tc.prep != nil {
				st = tc.prep(t, r)
			}
			_, err := Rotate(context.Background(), r.cfg, st, keys.UseSigning, Options{Force: true})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Rotate: %v, want %v", err, tc.want)
			}
			if tc.want != errPublish && !strings.Contains(err.Error(), r.cur.ID) {
				t.Errorf("error %q does not name the selected record %s", err, r.cur.ID)
			}
			if strings.Contains(err.Error(), tc.pin) || strings.Contains(err.Error(), tokenPIN) {
				t.Errorf("error %q shows the PIN", err)
			}
			t.Log(err)
			if rots, _ := r.st.Rotations(context.Background(), "signing"); len(rots) != 0 {
				t.Errorf("rotation rows after a failed rotation: %+v", rots)
			}
			if recs, _ := r.st.Records(context.Background()); len(recs) != len(before) {
				t.Errorf("%d records after a failed rotation, want the %d before", len(recs), len(before))
			}
			if tc.name == "token gone" {
				return // the token directory is away
			}
			if labels := r.tokenKeys(t); len(labels) != 1 {
				t.Errorf("keys on the token after a failed rotation: %v, want only base-signing", labels)
			}
		})
	}
}

var errPublish = errors.New("store refused the record")

// failingPublish is a store whose PublishNext fails after the key was
// generated.
type failingPublish struct{ *store.Store }

func (failingPublish) PublishNext(context.Context, string, string, store.NewRecord, string) (*store.Record, error) {
	return nil, errPublish
}

// moveAway renames dir's entries away (the token is removed) for the rest
// of the test.
func moveAway(t *testing.T, dir string) {
	t.Helper()
	away := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Rename(dir+"/"+e.Name(), away+"/"+e.Name()); err != nil {
			t.Fatal(err)
		}
	}
}
