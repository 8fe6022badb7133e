package lifecycle

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// ecKeystore is a PKCS#12 keystore with a self-signed EC key (EC keeps the
// tests fast) valid for days from now.
func ecKeystore(t *testing.T, cn string, now time.Time, days int) ([]byte, secret.Value) {
	t.Helper()
	g, err := keys.GenerateKeystore(keys.KeystoreOptions{
		GenerateOptions: keys.GenerateOptions{Alias: "saml2sp", KeyAlg: "EC", DName: "CN=" + cn, ValidityDays: days,
			Now: func() time.Time { return now }},
		Format: keys.FormatPKCS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g.Data, g.StorePassword
}

// rig is a fake store whose signing property selects a self-signed key
// expiring 60 days after t0, and a config rotating 90-day signing keys.
type rig struct {
	st    *fakeStore
	cfg   *config.Config
	clock time.Time
	base  *store.Record
}

func newRig(t *testing.T) *rig {
	r := &rig{clock: t0}
	r.st = newFakeStore(func() time.Time { return r.clock })
	data, pw := ecKeystore(t, "base", t0, 60)
	r.base = r.st.addKeystore(t, "base", "base key", data, pw)
	r.st.props[store.PropSigningKeystore] = "base"
	r.cfg = &config.Config{}
	r.cfg.SP.EntityID = "https://sp.example.com/saml/metadata"
	r.cfg.Rotation.Signing = &config.RotationPolicy{KeyAlg: "EC", Validity: 90 * day, RotateBefore: 30 * day,
		PublishFor: 7 * day, RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	return r
}

func (r *rig) rotate(t *testing.T, o Options) ([]StepKind, error) {
	t.Helper()
	o.Now = func() time.Time { return r.clock }
	steps, err := Rotate(context.Background(), r.cfg, r.st, keys.UseSigning, o)
	var kinds []StepKind
	for _, s := range steps {
		if s.Reason == "" {
			t.Errorf("step %s without a reason", s.Kind)
		}
		kinds = append(kinds, s.Kind)
	}
	return kinds, err
}

func (r *rig) want(t *testing.T, o Options, want ...StepKind) {
	t.Helper()
	got, err := r.rotate(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(kindStrings(got), ",") != strings.Join(kindStrings(want), ",") {
		t.Fatalf("at %s: steps %v, want %v", r.clock.Format(time.DateOnly), got, want)
	}
}

func kindStrings(ks []StepKind) []string {
	var out []string
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

// next returns the signing key published as next, or nil.
func (r *rig) next() *store.Record {
	for _, x := range r.st.rots {
		if x.Use == "signing" && x.State == store.RotationNext {
			return r.st.records[x.RecordID]
		}
	}
	return nil
}

// TestRotateRollover drives one rollover through the store: publish when
// the active key nears expiry, wait for an IdP that has not fetched the next
// key, promote once it has, deactivate the old key after retire_after.
func TestRotateRollover(t *testing.T) {
	r := newRig(t)
	r.st.fetches = []store.MetadataFetch{{IdP: "corp", At: t0, Fingerprints: []string{r.base.FingerprintSHA256}}}
	r.want(t, Options{})

	r.clock = t0.Add(31 * day)
	r.want(t, Options{}, StepGenerateNext)
	next := r.next()
	if next == nil {
		t.Fatal("no next key published")
	}
	ks, err := keys.Parse(next.Data, next.StorePassword, next.KeyPassword)
	if err != nil {
		t.Fatalf("the generated keystore does not open with its password: %v", err)
	}
	leaf := ks.Entries[0].Leaf()
	if ks.Format != keys.FormatPKCS12 || ks.Entries[0].Alias != "saml2sp" ||
		leaf.Subject.CommonName != "sp.example.com SAML signing 2027-02-01" || leaf.NotAfter.Sub(r.clock) != 90*day {
		t.Fatalf("next key: %s alias %q CN %q valid until %s", ks.Format, ks.Entries[0].Alias, leaf.Subject.CommonName, leaf.NotAfter)
	}
	if _, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("policy asked for EC, got %T", leaf.PublicKey)
	}

	r.clock = r.clock.Add(7*day + time.Hour) // publish_for passed, the IdP is behind
	r.want(t, Options{})
	r.st.fetches[0] = store.MetadataFetch{IdP: "corp", At: r.clock, Fingerprints: []string{r.base.FingerprintSHA256, next.FingerprintSHA256}}
	r.want(t, Options{}, StepPromote)
	if r.st.props[store.PropSigningKeystore] != next.ID {
		t.Fatal("promotion did not move the signing property")
	}

	r.clock = r.clock.Add(14*day + time.Hour)
	r.want(t, Options{}, StepDeactivate)
	if r.st.records["base"].Active {
		t.Fatal("the retired base key is still active")
	}
	for _, a := range r.st.audit {
		if !strings.HasPrefix(a, "rotation ") {
			t.Errorf("audit %q: want actor rotation", a)
		}
	}
}

// TestRotateMaxWait: an IdP that never fetches again delays promotion only
// until publish_for plus max_wait.
func TestRotateMaxWait(t *testing.T) {
	r := newRig(t)
	r.st.fetches = []store.MetadataFetch{{IdP: "lazy", At: t0}}
	r.clock = t0.Add(30 * day)
	r.want(t, Options{}, StepGenerateNext)
	r.clock = r.clock.Add(14*day - time.Second)
	r.want(t, Options{})
	r.clock = r.clock.Add(time.Second)
	r.want(t, Options{}, StepPromote)
}

// TestRotateForce: --now publishes and promotes in one run, even with two
// years left and an IdP that has not seen the new key.
func TestRotateForce(t *testing.T) {
	r := newRig(t)
	r.st.fetches = []store.MetadataFetch{{IdP: "corp", At: t0}}
	r.want(t, Options{Force: true}, StepGenerateNext, StepPromote)
	if r.st.props[store.PropSigningKeystore] == "base" {
		t.Fatal("forced rotation left the property on the old key")
	}
}

// TestRotateRefuses: what Rotate will not do, and that it leaves the store
// alone when it refuses.
func TestRotateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *rig, o *Options)
		want  string
		is    error
	}{
		{"use not configured", func(_ *testing.T, r *rig, _ *Options) { r.cfg.Rotation.Signing = nil },
			"rotation of the signing key is not configured (rotation.signing in the config)", nil},
		{"unusable policy", func(_ *testing.T, r *rig, _ *Options) { r.cfg.Rotation.Signing.RotateBefore = 10 * day },
			"rotation.signing: rotation policy: publish_for", nil},
		{"another replica holds the lock", func(_ *testing.T, r *rig, _ *Options) { r.st.held[LockName(keys.UseSigning)] = true },
			"rotate signing key: another replica is rotating it now", ErrLocked},
		{"CA-signed active key", func(t *testing.T, r *rig, _ *Options) {
			data, pw := caSignedKeystore(t)
			r.st.addKeystore(t, "ca", "partner-issued", data, pw)
			r.st.props[store.PropSigningKeystore] = "ca"
		}, `certificate record ca ("partner-issued") is CA-signed: samlkeyd cannot rotate it by itself; start a renewal with samlkeyd cert renew ca`, nil},
		{"randomness fails", func(_ *testing.T, _ *rig, o *Options) { o.Rand = iotest.ErrReader(errors.New("no entropy")) },
			"no entropy", nil},
		{"store read fails", func(_ *testing.T, r *rig, _ *Options) { r.st.failRead = errors.New("store down") },
			"store down", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			var o Options
			tc.setup(t, r, &o)
			steps, err := r.rotate(t, Options{Force: true, Rand: o.Rand})
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Rotate = %v, %v; want an error containing %q", steps, err, tc.want)
			}
			if len(steps) != 0 || len(r.st.rots) != 0 || len(r.st.audit) != 0 {
				t.Fatalf("a refused rotation changed the store: steps %v, rotations %v", steps, r.st.rots)
			}
		})
	}
}

// TestRotateDrawsFromRand: the generated key's password, serial and record
// id come from the caller's reader, not the global crypto/rand.
func TestRotateDrawsFromRand(t *testing.T) {
	r := newRig(t)
	c := &countingReader{r: rand.Reader}
	r.want(t, Options{Force: true, Rand: c}, StepGenerateNext, StepPromote)
	if c.n < 24+16+8 {
		t.Fatalf("Rotate read %d bytes from Options.Rand; the password, record id and serial alone need 48", c.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// caSignedKeystore is a PKCS#12 keystore whose key is certified by a CA.
func caSignedKeystore(t *testing.T) ([]byte, secret.Value) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Partner CA"}, NotBefore: t0,
		NotAfter: t0.Add(365 * day), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "sp.example.com"}, NotBefore: t0, NotAfter: t0.Add(60 * day)}, caCert, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	pw := secret.FromString("Partner-Pass-1")
	data, err := (&keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{
		{Alias: "saml2sp", Created: t0, Key: leafKey, Chain: []*x509.Certificate{leaf, caCert}}}}).Marshal(pw, pw)
	if err != nil {
		t.Fatal(err)
	}
	return data, pw
}

// TestLockName: every runner of a use's rollover shares one lock, and
// the two uses do not block each other.
func TestLockName(t *testing.T) {
	if LockName(keys.UseSigning) == LockName(keys.UseEncryption) {
		t.Fatal("signing and encryption rotations share a lock")
	}
	r := newRig(t)
	r.cfg.Rotation.Encryption = r.cfg.Rotation.Signing
	r.st.held[LockName(keys.UseEncryption)] = true
	r.want(t, Options{}) // the signing run is not blocked by the encryption lock
}
