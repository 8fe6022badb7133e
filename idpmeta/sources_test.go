package idpmeta

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

func TestAggregateSourceKeepsLastGood(t *testing.T) {
	keys := testKeys(t)
	good := signGo(t, smallAggregate(t, 5, "2027-07-01T00:00:00Z"), keys[0], false)
	path := filepath.Join(t.TempDir(), "fed.xml")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	now := testNow
	s := &AggregateSource{Source: "fed", File: path, Signer: keys[0].cert, Now: func() time.Time { return now }}
	id := "https://idp00001.uni1.example.edu/idp/shibboleth"
	if _, err := s.Lookup(context.Background(), id); !errors.Is(err, ErrNotLoaded) {
		t.Errorf("before Update: %v", err)
	}
	if !s.Due(now) {
		t.Error("not due before the first Update")
	}
	if changed, err := s.Update(context.Background()); err != nil || !changed {
		t.Fatalf("Update = %v, %v", changed, err)
	}
	a := s.State().Aggregate
	if changed, err := s.Update(context.Background()); err != nil || changed || s.State().Aggregate != a {
		t.Errorf("same document: changed %v, err %v, index replaced %v", changed, err, s.State().Aggregate != a)
	}
	if s.Due(now.Add(59*time.Minute)) || !s.Due(now.Add(time.Hour)) {
		t.Error("Due does not follow the default refresh, 1h")
	}
	s.Refresh = 24 * time.Hour
	if s.Due(now.Add(5*time.Hour)) || !s.Due(now.Add(6*time.Hour)) {
		t.Error("Due does not follow the aggregate's cacheDuration PT6H when shorter than refresh")
	}
	// a document that does not verify leaves the last good one in use
	bad := append([]byte(nil), good...)
	bad[len(bad)-30] ^= 1
	os.WriteFile(path, bad, 0o600)
	if _, err := s.Update(context.Background()); err == nil {
		t.Fatal("tampered document accepted")
	}
	if e, err := s.Lookup(context.Background(), id); err != nil || e.EntityID != id {
		t.Errorf("last good copy not used: %v", err)
	}
	// until it expires
	now = time.Date(2027, 7, 1, 0, 0, 0, 0, time.UTC)
	if _, err := s.Lookup(context.Background(), id); !errors.Is(err, ErrExpired) {
		t.Errorf("past validUntil: %v", err)
	}
}

func TestAggregateSourceURL(t *testing.T) {
	keys := testKeys(t)
	good := signGo(t, smallAggregate(t, 5, ""), keys[0], false)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(good) }))
	defer srv.Close()
	s := &AggregateSource{Source: "fed", URL: srv.URL + "/fed.xml", Signer: keys[0].cert, Now: func() time.Time { return testNow }}
	if _, err := s.Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.State().Aggregate.Len() != 4 {
		t.Errorf("%d entities", s.State().Aggregate.Len())
	}
	small := &AggregateSource{Source: "fed", URL: srv.URL, Signer: keys[0].cert, Fetcher: &Fetcher{MaxBytes: 1000}, Now: func() time.Time { return testNow }}
	if _, err := small.Update(context.Background()); err == nil {
		t.Error("over the size cap: accepted")
	}
}

// TestSources: an aggregate first, then MDQ; the converters give what the
// signing service and the response validator take.
func TestSources(t *testing.T) {
	keys := testKeys(t)
	path := filepath.Join(t.TempDir(), "fed.xml")
	os.WriteFile(path, signGo(t, smallAggregate(t, 5, ""), keys[0], false), 0o600)
	mdqID := "https://idp.example.org/idp/shibboleth"
	srv := newMDQServer(t, map[string][]byte{mdqID: entityDoc(t, mdqID, "")}, nil)
	cfg := []config.IdPSource{
		{Name: "fed", AggregateFile: path, SigningCert: "Fed signer", EncryptAssertion: true},
		{Name: "mdq", MDQURL: srv.URL, SigningCert: "Fed signer", SignatureAlgorithm: "rsa-sha512"},
	}
	signer := func(name string) (*x509.Certificate, error) {
		if name != "Fed signer" {
			return nil, errors.New("no such record")
		}
		return keys[0].cert, nil
	}
	src, err := FromConfig(cfg, signer, nil, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	if st := src.Status(testNow); st[0].Up || st[0].Kind != "aggregate" || !st[1].Up {
		t.Errorf("status before the first update = %+v", st)
	}
	if changed, errs := src.UpdateDue(context.Background(), testNow); len(errs) != 0 || len(changed) != 1 || changed[0] != "fed" {
		t.Fatalf("UpdateDue = %q, %v", changed, errs)
	}
	if changed, errs := src.UpdateDue(context.Background(), testNow); len(errs) != 0 || len(changed) != 0 {
		t.Errorf("UpdateDue again = %q, %v: not due", changed, errs)
	}
	if st := src.Status(testNow); !st[0].Up || st[0].Entities != 4 {
		t.Errorf("status = %+v", st)
	}
	e, err := src.Lookup(context.Background(), "https://idp00002.uni2.example.edu/idp/shibboleth")
	if err != nil || e.Source != "fed" {
		t.Fatalf("aggregate entity: %v", err)
	}
	p, err := e.ConfigIdP(src.Config(e.Source))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != e.EntityID || p.SSO.Binding != "redirect" || p.SSO.Location != "https://idp00002.uni2.example.edu/idp/profile/SAML2/Redirect/SSO" ||
		p.SLO.Location == "" || !p.EncryptAssertion || p.SignAuthnRequest {
		t.Errorf("ConfigIdP = %+v", p)
	}
	ri, err := e.ResponseIdP(src.Config(e.Source))
	if err != nil || len(ri.SigningCerts) != 2 || !ri.EncryptAssertion || ri.EntityID != e.EntityID {
		t.Errorf("ResponseIdP = %+v, %v", ri, err)
	}
	m, err := src.Lookup(context.Background(), mdqID)
	if err != nil || m.Source != "mdq" {
		t.Fatalf("mdq entity: %v", err)
	}
	p, err = m.ConfigIdP(src.Config(m.Source))
	if err != nil || p.SSO.Binding != "post" || !p.SignAuthnRequest || p.SignatureAlgorithm != "rsa-sha512" {
		t.Errorf("mdq ConfigIdP = %+v, %v", p, err)
	}
	if _, err := src.Lookup(context.Background(), "https://nowhere.example.org/"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := FromConfig([]config.IdPSource{{Name: "x", SigningCert: "nope"}}, signer, nil, nil); err == nil {
		t.Error("unknown signing_cert accepted")
	}
}
