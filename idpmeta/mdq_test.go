package idpmeta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// entityDoc is a signed MDQ answer for entityID, signed by keys[0].
func entityDoc(t testing.TB, entityID, extra string) []byte {
	keys := testKeys(t)
	doc := fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="_e" entityID="%s" cacheDuration="PT1H"%s><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="true"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.org/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`,
		entityID, extra, b64Lines(keys[1].der))
	return signGo(t, []byte(doc), keys[0], false)
}

// mdqServer serves signed answers for the entity ids in docs, by both URL
// forms, and counts requests; gate, when not nil, holds every answer until
// it is closed.
type mdqServer struct {
	*httptest.Server
	requests atomic.Int32
	paths    sync.Map
}

func newMDQServer(t testing.TB, docs map[string][]byte, gate chan struct{}) *mdqServer {
	s := &mdqServer{}
	byPath := map[string][]byte{}
	for id, d := range docs {
		byPath[strings.TrimPrefix(MDQURL("", id), "")] = d
		byPath[strings.TrimPrefix(MDQSHA1URL("", id), "")] = d
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.paths.Store(r.URL.EscapedPath(), true)
		if gate != nil {
			<-gate
		}
		d, ok := byPath[r.URL.EscapedPath()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		w.Write(d)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestMDQURL(t *testing.T) {
	if got, want := MDQURL("https://mdq.example.org/", "https://idp.example.org/idp/shibboleth"), "https://mdq.example.org/entities/https%3A%2F%2Fidp.example.org%2Fidp%2Fshibboleth"; got != want {
		t.Errorf("MDQURL = %s, want %s", got, want)
	}
	// the {sha1} example of the MDQ SAML profile's "http://example.org/service"
	if got, want := MDQSHA1URL("https://mdq.example.org", "http://example.org/service"), "https://mdq.example.org/entities/%7Bsha1%7D11d72e8cf351eb6c75c721e838f469677ab41bdb"; got != want {
		t.Errorf("MDQSHA1URL = %s, want %s", got, want)
	}
}

func TestMDQLookup(t *testing.T) {
	keys := testKeys(t)
	id := "https://idp.example.org/idp/shibboleth"
	srv := newMDQServer(t, map[string][]byte{id: entityDoc(t, id, "")}, nil)
	now := testNow
	clock := func() time.Time { return now }
	for _, sha1 := range []bool{false, true} {
		m := &MDQ{Source: "mdq", BaseURL: srv.URL + "/", Signer: keys[0].cert, SHA1Form: sha1, Now: clock}
		e, err := m.Lookup(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.EntityID != id || !e.WantAuthnRequestsSigned || len(e.SSO) != 1 {
			t.Errorf("entity = %+v", e)
		}
		if _, err := m.Lookup(context.Background(), id); err != nil || m.Fetches() != 1 {
			t.Errorf("cached lookup: %v, %d fetches", err, m.Fetches())
		}
		now = now.Add(59 * time.Minute)
		m.Lookup(context.Background(), id)
		if m.Fetches() != 1 {
			t.Errorf("refetched before cacheDuration: %d", m.Fetches())
		}
		now = now.Add(2 * time.Minute)
		if _, err := m.Lookup(context.Background(), id); err != nil || m.Fetches() != 2 {
			t.Errorf("after cacheDuration: %v, %d fetches", err, m.Fetches())
		}
		// a negative answer is cached for NegativeTTL
		for range 3 {
			if _, err := m.Lookup(context.Background(), "https://unknown.example.org/"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unknown: %v", err)
			}
		}
		if m.Fetches() != 3 {
			t.Errorf("negative answer not cached: %d fetches", m.Fetches())
		}
		now = now.Add(DefaultMDQNegativeTTL)
		m.Lookup(context.Background(), "https://unknown.example.org/")
		if m.Fetches() != 4 {
			t.Errorf("negative answer cached past NegativeTTL: %d fetches", m.Fetches())
		}
	}
	if _, ok := srv.paths.Load("/entities/%7Bsha1%7D" + strings.TrimPrefix(MDQSHA1URL("", id), "/entities/%7Bsha1%7D")); !ok {
		t.Error("the {sha1} form was not asked for")
	}
}

func TestMDQRefuses(t *testing.T) {
	keys := testKeys(t)
	id := "https://idp.example.org/idp/shibboleth"
	good := entityDoc(t, id, "")
	tampered := []byte(strings.Replace(string(good), "https://idp.example.org/sso", "https://evil.example.org/sso", 1))
	expired := entityDoc(t, id, ` validUntil="2020-01-01T00:00:00Z"`)
	for name, doc := range map[string][]byte{"tampered": tampered, "expired": expired} {
		srv := newMDQServer(t, map[string][]byte{id: doc}, nil)
		m := &MDQ{Source: "mdq", BaseURL: srv.URL, Signer: keys[0].cert, Now: func() time.Time { return testNow }}
		if _, err := m.Lookup(context.Background(), id); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// the wrong signer
	srv := newMDQServer(t, map[string][]byte{id: good}, nil)
	m := &MDQ{Source: "mdq", BaseURL: srv.URL, Signer: keys[1].cert, Now: func() time.Time { return testNow }}
	if _, err := m.Lookup(context.Background(), id); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong signer: %v", err)
	}
}

// TestMDQSingleflight: concurrent lookups of one entity make one request.
func TestMDQSingleflight(t *testing.T) {
	keys := testKeys(t)
	id := "https://idp.example.org/idp/shibboleth"
	gate := make(chan struct{})
	srv := newMDQServer(t, map[string][]byte{id: entityDoc(t, id, "")}, gate)
	m := &MDQ{Source: "mdq", BaseURL: srv.URL, Signer: keys[0].cert, Now: func() time.Time { return testNow }}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := m.Lookup(context.Background(), id)
			errs <- err
		})
	}
	for srv.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func BenchmarkMDQ(b *testing.B) {
	keys := testKeys(b)
	id := "https://idp.example.org/idp/shibboleth"
	srv := newMDQServer(b, map[string][]byte{id: entityDoc(b, id, "")}, nil)
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			m := &MDQ{Source: "mdq", BaseURL: srv.URL, Signer: keys[0].cert}
			if _, err := m.Lookup(context.Background(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		m := &MDQ{Source: "mdq", BaseURL: srv.URL, Signer: keys[0].cert}
		if _, err := m.Lookup(context.Background(), id); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := m.Lookup(context.Background(), id); err != nil {
				b.Fatal(err)
			}
		}
	})
}
