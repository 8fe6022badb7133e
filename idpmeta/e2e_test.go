package idpmeta

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

const (
	e2eSP  = "https://sp.example.org/saml/metadata"
	e2eACS = "https://sp.example.org/saml/acs"
)

// TestEndToEnd signs an AuthnRequest to, and validates a response from,
// an IdP known only through an aggregate and one known only through MDQ
// (a local server): the entity is looked up in the sources, converted
// with ConfigIdP / ResponseIdP, handed to sp.New and
// sp.NewResponseValidator as the daemon would, and the response is made by
// crewjam/saml's IdentityProvider (an independent implementation) with the
// key whose certificate the federation metadata publishes.
func TestEndToEnd(t *testing.T) {
	k := testKeys(t)
	path := filepath.Join(t.TempDir(), "fed.xml")
	if err := os.WriteFile(path, signGo(t, smallAggregate(t, 3, ""), k[0], false), 0o600); err != nil {
		t.Fatal(err)
	}
	mdqID := "https://idp.example.org/idp/shibboleth"
	srv := newMDQServer(t, map[string][]byte{mdqID: entityDoc(t, mdqID, "")}, nil)
	cfg := []config.IdPSource{
		{Name: "fed", AggregateFile: path, SigningCert: "Fed signer", SignAuthnRequest: true},
		{Name: "mdq", MDQURL: srv.URL, SigningCert: "Fed signer"},
	}
	src, err := FromConfig(cfg, func(string) (*x509.Certificate, error) { return k[0].cert, nil }, nil, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.List()[0].(*AggregateSource).Update(context.Background()); err != nil {
		t.Fatal(err)
	}
	spCred := &keys.Credential{Signer: k[4].key, Chain: []*x509.Certificate{k[4].cert}}
	for _, tc := range []struct {
		entityID string
		idpKey   *testKey // the key whose certificate the metadata lists first
	}{
		{"https://idp00000.uni0.example.edu/idp/shibboleth", k[1]},
		{mdqID, k[1]},
	} {
		t.Run(tc.entityID, func(t *testing.T) {
			e, err := src.Lookup(context.Background(), tc.entityID)
			if err != nil {
				t.Fatal(err)
			}
			cfgIdP, err := e.ConfigIdP(src.Config(e.Source))
			if err != nil {
				t.Fatal(err)
			}
			svc, err := sp.New(sp.Settings{EntityID: e2eSP, ACS: []config.Endpoint{{Binding: "post", Location: e2eACS, Default: true}},
				IdPs: []config.IdP{cfgIdP}, Signing: spCred, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			m, err := svc.AuthnRequest(sp.AuthnOptions{IdP: tc.entityID, Binding: "redirect"})
			if err != nil {
				t.Fatal(err)
			}
			sso, _ := pickEndpoint(e.SSO)
			u, _ := url.Parse(m.URL)
			if !strings.HasPrefix(m.URL, sso.Location+"?") || u.Query().Get("Signature") == "" {
				t.Fatalf("AuthnRequest URL %s: want a signed request to %s", m.URL, sso.Location)
			}
			if _, err := sp.VerifyRedirect(u.RawQuery, []*x509.Certificate{k[4].cert}, false); err != nil {
				t.Fatalf("our AuthnRequest signature: %v", err)
			}

			ri, err := e.ResponseIdP(src.Config(e.Source))
			if err != nil {
				t.Fatal(err)
			}
			ri.WantAssertionSigned = true
			v, err := sp.NewResponseValidator(sp.ResponseSettings{EntityID: e2eSP, ACSURLs: []string{e2eACS},
				IdPs: []sp.ResponseIdP{ri}, Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			resp := crewjamResponseFrom(t, tc.entityID, sso.Location, tc.idpKey, m.ID)
			a, err := v.Verify(context.Background(), tc.entityID, base64.StdEncoding.EncodeToString(resp), m.ID)
			if err != nil {
				t.Fatalf("response from %s: %v", tc.entityID, err)
			}
			if a.NameID != "alice@example.org" || a.Issuer != tc.entityID {
				t.Errorf("assertion = %+v", a)
			}
			// a response signed by a key the metadata does not list is refused
			if _, err := v.Verify(context.Background(), tc.entityID, base64.StdEncoding.EncodeToString(crewjamResponseFrom(t, tc.entityID, sso.Location, k[4], m.ID+"x")), m.ID+"x"); err == nil {
				t.Error("response signed by an unlisted key accepted")
			}
		})
	}
}

// crewjamResponseFrom has crewjam/saml's IdentityProvider, as entityID
// with key k, answer requestID for our SP.
func crewjamResponseFrom(t *testing.T, entityID, ssoURL string, k *testKey, requestID string) []byte {
	t.Helper()
	mustURL := func(s string) url.URL { u, _ := url.Parse(s); return *u }
	idp := &saml.IdentityProvider{Signer: k.key, Certificate: k.cert, MetadataURL: mustURL(entityID), SSOURL: mustURL(ssoURL),
		SignatureMethod: "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"}
	md := &saml.EntityDescriptor{EntityID: e2eSP, SPSSODescriptors: []saml.SPSSODescriptor{{
		AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: e2eACS, Index: 0}},
	}}}
	req := &saml.IdpAuthnRequest{
		IDP: idp, HTTPRequest: httptest.NewRequest("POST", ssoURL, nil),
		Request:                 saml.AuthnRequest{ID: requestID, IssueInstant: testNow},
		ServiceProviderMetadata: md, SPSSODescriptor: &md.SPSSODescriptors[0],
		ACSEndpoint: &md.SPSSODescriptors[0].AssertionConsumerServices[0], Now: testNow,
	}
	sess := &saml.Session{NameID: "alice@example.org", NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
		Index: "session-1", UserEmail: "alice@example.org", CreateTime: testNow}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, sess); err != nil {
		t.Fatal(err)
	}
	if err := req.MakeResponse(); err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
