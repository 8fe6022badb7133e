package web

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/metadata"
)

// clock is the fixed "now" of every test.
var clock = time.Date(2027, 1, 1, 9, 30, 0, 0, time.UTC)

const day = 24 * time.Hour

// fixture is a realistic snapshot: real certificates rendered by
// metadata.Build, whose handler serves the PEM and DER files the page
// links to, and the view models built from it the way the daemon does.
type fixture struct {
	published *metadata.Published
	public    Public
	admin     Admin
}

// newFixture builds a key set of a current signing key (RSA, expiring in
// 65 days), optionally a next signing key, and a current encryption key.
func newFixture(t testing.TB, withNext bool) *fixture {
	t.Helper()
	signing := []*keys.Credential{newCred(t, "sp.example.com signing 2026", keys.UseSigning, keys.RoleCurrent, true, clock.Add(-300*day), clock.Add(65*day))}
	if withNext {
		signing = append(signing, newCred(t, "sp.example.com signing 2027", keys.UseSigning, keys.RoleNext, false, clock.Add(-2*day), clock.Add(730*day)))
	}
	encryption := []*keys.Credential{newCred(t, "sp.example.com encryption", keys.UseEncryption, keys.RoleCurrent, false, clock.Add(-30*day), clock.Add(400*day))}
	sp := config.SP{
		EntityID: "https://sp.example.com/saml/metadata",
		BaseURL:  "https://sp.example.com",
		ACS: []config.Endpoint{
			{Binding: "post", Location: "https://sp.example.com/saml/acs", Index: 0, Default: true},
			{Binding: "post", Location: "https://sp.example.com/saml/acs/2", Index: 1},
		},
		SLO:      []config.Endpoint{{Binding: "redirect", Location: "https://sp.example.com/saml/slo"}},
		Metadata: config.Metadata{ValidFor: 48 * time.Hour, CacheDuration: 24 * time.Hour},
	}
	p, err := metadata.Build(metadata.Input{SP: sp, AuthnRequestsSigned: true, Keys: &keys.KeySet{Signing: signing, Encryption: encryption}, Now: clock})
	if err != nil {
		t.Fatalf("metadata.Build: %v", err)
	}
	f := &fixture{published: p}
	f.public = publicFrom(p, sp, clock.Add(5*day))
	f.admin = adminFixture(f.public)
	return f
}

// publicFrom is the daemon's wiring in miniature: the Public view of one
// snapshot's metadata rendering and SP config.
func publicFrom(p *metadata.Published, sp config.SP, nextUsedFrom time.Time) Public {
	pub := Public{
		Now:         clock,
		EntityID:    p.EntityID(),
		MetadataURL: sp.BaseURL + metadata.PathMetadata,
		CertsURL:    metadata.PathCerts,
		IdPs: []IdPAlgorithm{
			{Name: "corp", EntityID: "https://idp.corp.example/idp", SignatureAlgorithm: "rsa-sha256"},
			{Name: "legacy <partner>", EntityID: "https://legacy.example.net/adfs/services/trust", SignatureAlgorithm: "rsa-sha1"},
		},
	}
	for _, e := range sp.ACS {
		pub.ACS = append(pub.ACS, Endpoint{Binding: e.Binding, Location: e.Location, Index: e.Index, Default: e.Default})
	}
	for _, e := range sp.SLO {
		pub.SLO = append(pub.SLO, Endpoint{Binding: e.Binding, Location: e.Location})
	}
	for _, c := range p.Certificates() {
		card := Cert{
			Use: string(c.Use), State: string(c.State), Subject: c.Subject, Issuer: c.Issuer,
			Serial: c.Serial, KeyAlgorithm: c.KeyAlgorithm, SHA1: c.SHA1, SHA256: c.SHA256,
			NotBefore: c.NotBefore, NotAfter: c.NotAfter, PEMURL: c.PEMURL, DERURL: c.DERURL,
		}
		if c.State == keys.RoleNext {
			card.UsedFrom = nextUsedFrom
		}
		pub.Certs = append(pub.Certs, card)
	}
	return pub
}

// diagnosis is the failing check's plain-words diagnosis the admin page
// must show.
const diagnosis = "The server refused our client certificate: it accepts certificates issued by CN=Partner Root CA, ours is issued by CN=Example Issuing CA. Ask the partner to trust our issuer, or switch the profile's keystore."

func adminFixture(pub Public) Admin {
	a := Admin{
		Now:        clock,
		Thresholds: []Duration{Duration(1440 * time.Hour), Duration(720 * time.Hour), Duration(336 * time.Hour), Duration(168 * time.Hour), Duration(72 * time.Hour), Duration(24 * time.Hour)},
		Components: []Component{
			{Kind: "core", Name: "keys and metadata", OK: true, Since: clock.Add(-3 * day)},
			{Kind: "idp", Name: "corp", OK: true, Since: clock.Add(-3 * day)},
			{Kind: "idp_source", Name: "fed", OK: false, Error: "fetch https://md.example.org/fed.xml: signature does not verify with \"Fed signer\"", Since: clock.Add(-90 * time.Minute)},
			{Kind: "check", Name: "partner", OK: true, Since: clock.Add(-3 * day)},
		},
		Checks: []Check{
			{
				Name: "partner", URL: "mhttps://api.partner.example/health", Profile: "mhttps", Schedule: "@every 5m",
				Last: &CheckRun{Start: clock.Add(-4 * time.Minute), OK: false, Stage: "tls", Diagnosis: diagnosis,
					Error:  "remote error: tls: bad certificate",
					Stages: []Stage{{"dns", Duration(2 * time.Millisecond)}, {"connect", Duration(11 * time.Millisecond)}, {"tls", Duration(38 * time.Millisecond)}, {"total", Duration(52 * time.Millisecond)}}},
				History: []CheckRun{
					{Start: clock.Add(-9 * time.Minute), OK: false, Stage: "tls", Diagnosis: diagnosis},
					{Start: clock.Add(-14 * time.Minute), OK: true},
				},
			},
			{
				Name: "billing", URL: "mhttps://billing.example.com:8443/ping", Profile: "mhttps", Schedule: "@every 15m",
				Last: &CheckRun{Start: clock.Add(-6 * time.Minute), OK: true, Status: 200,
					Stages: []Stage{{"dns", Duration(time.Millisecond)}, {"connect", Duration(9 * time.Millisecond)}, {"tls", Duration(31 * time.Millisecond)}, {"http", Duration(12 * time.Millisecond)}, {"total", Duration(54 * time.Millisecond)}}},
			},
		},
		Deprecated: []Deprecated{{IdP: "legacy <partner>", Algorithm: "rsa-sha1", Count: 1284}},
		Audit: []AuditEntry{
			{At: clock.Add(-2 * day), Actor: "rotation", Action: "publish", Object: "signing key sp.example.com signing 2027"},
			{At: clock.Add(-40 * day), Actor: "ops (token)", Action: "set_property", Object: "glide.authenticate.sso.saml2.encryption.keystore", Before: "3685fc22930212003c5537ae867ffb91", After: "9b1f0c2e4d5a6b7c8d9e0f1a2b3c4d5e"},
		},
	}
	rot := Rotation{Use: "signing", NextStep: "none"}
	for _, c := range pub.Certs {
		a.Expiry = append(a.Expiry, Expiry{Kind: c.Use + " key", Name: c.Subject, SHA256: c.SHA256, NotAfter: c.NotAfter})
		if c.Use != "signing" {
			continue
		}
		k := RotationKey{ID: c.Serial[:8], Name: c.Subject, State: "active", SHA256: c.SHA256, NotBefore: c.NotBefore, NotAfter: c.NotAfter, PromotedAt: c.NotBefore}
		if c.State == "next" {
			k.State, k.PublishedAt, k.PromotedAt = "next", clock.Add(-2*day), time.Time{}
			rot.NextStep, rot.NextStepReason = "promote", "waiting for every IdP to fetch the next key (publish_for 168h)"
			rot.PromoteFrom, rot.PromoteBy = clock.Add(5*day), clock.Add(12*day)
			rot.Fetches = []IdPFetch{
				{IdP: "corp", FetchedNext: true, LastFetch: clock.Add(-3 * time.Hour)},
				{IdP: "legacy <partner>", FetchedNext: false, LastFetch: clock.Add(-9 * day)},
			}
		}
		rot.Keys = append(rot.Keys, k)
	}
	a.Rotation = []Rotation{rot, {Use: "encryption", NextStep: "none", NextStepReason: "active key expires in 400 days"}}
	a.Expiry = append(a.Expiry,
		Expiry{Kind: "IdP signing certificate", Name: "corp", Subject: "CN=idp.corp.example", NotAfter: clock.Add(10 * day)},
		Expiry{Kind: "mTLS trust anchor", Name: "Partner root", Subject: "CN=Partner Root CA", NotAfter: clock.Add(-2 * day)},
	)
	return a
}

// newCred makes a self-signed credential (RSA 2048 or EC P-256) with the
// given validity, issued by a named CA distinct from its subject.
func newCred(t testing.TB, cn string, use keys.Use, role keys.Role, useRSA bool, notBefore, notAfter time.Time) *keys.Credential {
	t.Helper()
	var key crypto.Signer
	var err error
	if useRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	name := pkix.Name{CommonName: cn, Organization: []string{"Example Corp"}, Country: []string{"US"}}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: name, Issuer: name, NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &keys.Credential{RecordID: cn, RecordName: cn, Use: use, Role: role, Signer: key, Chain: []*x509.Certificate{cert}}
}

// newMux serves the fixture the way the daemon will: the metadata
// handler's certificate files and the web handler's pages on one mux.
func (f *fixture) newMux(t testing.TB, o Options) (*http.ServeMux, *Handler) {
	t.Helper()
	pub, err := RenderPublic(f.public)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := RenderAdmin(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	o.Public = func(*http.Request) *Page { return pub }
	o.Admin = func(*http.Request) *Page { return adm }
	if o.CheckAdminToken == nil {
		o.CheckAdminToken = func(tok string) bool { return tok == adminToken }
	}
	mux := http.NewServeMux()
	metadata.NewHandler(fixedSource{f.published}, nil).Register(mux)
	h := NewHandler(o)
	h.Register(mux)
	return mux, h
}

const adminToken = "skd_admin_0123456789abcdef0123456789abcdef"

type fixedSource struct{ p *metadata.Published }

func (s fixedSource) Published() *metadata.Published { return s.p }
