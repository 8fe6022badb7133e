package sp

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/crewjam/saml"
)

// spProvider serves crewjam/saml's IdP one SP's metadata.
type spProvider struct{ md *saml.EntityDescriptor }

func (p spProvider) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	if id != p.md.EntityID {
		return nil, os.ErrNotExist
	}
	return p.md, nil
}

// TestCrewjamIdPAccepts has crewjam/saml's IdentityProvider parse and
// validate our AuthnRequests, with SP metadata made from the same
// certificate, in both bindings.
func TestCrewjamIdPAccepts(t *testing.T) {
	s := testSettings(t, "rsa2048")
	cred := s.Signing
	mustURL := func(raw string) url.URL {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return *u
	}
	ourSP := saml.ServiceProvider{
		EntityID: s.EntityID, Key: cred.Signer, Certificate: cred.Leaf(),
		MetadataURL: mustURL(s.EntityID), AcsURL: mustURL(s.ACS[0].Location),
		AuthnNameIDFormat: saml.EmailAddressNameIDFormat,
	}
	md := ourSP.Metadata()
	// crewjam numbers its POST ACS 1; ours is index 0 in the settings.
	md.SPSSODescriptors[0].AssertionConsumerServices[0].Index = 0
	idp := &saml.IdentityProvider{
		Signer: cred.Signer, Certificate: cred.Leaf(),
		MetadataURL: mustURL("https://idp.example.com/metadata"), SSOURL: mustURL(s.IdPs[0].SSO.Location),
		ServiceProviderProvider: spProvider{md},
	}
	svc := mustNew(t, s)
	for _, tt := range []struct {
		name string
		opts AuthnOptions
	}{
		{"redirect", AuthnOptions{IdP: "corp", Binding: BindingRedirect, RelayState: "a&b=c #é"}},
		{"post", AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: `"><x>`, ForceAuthn: true,
			NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"}},
		{"redirect with acs index", AuthnOptions{IdP: "corp", ACSIndex: new(int)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := svc.AuthnRequest(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var r *http.Request
			if m.Binding == BindingRedirect {
				r = httptest.NewRequest(http.MethodGet, m.URL, nil)
			} else {
				form := url.Values{}
				for k, v := range m.Fields {
					form.Set(k, v)
				}
				r = httptest.NewRequest(http.MethodPost, m.Action, strings.NewReader(form.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req, err := saml.NewIdpAuthnRequest(idp, r)
			if err != nil {
				t.Fatal(err)
			}
			req.Now = fixedNow()
			if err := req.Validate(); err != nil {
				t.Fatalf("crewjam IdP rejects the request: %v", err)
			}
			if req.Request.ID != m.ID || req.RelayState != tt.opts.RelayState || req.ACSEndpoint.Location != s.ACS[0].Location {
				t.Errorf("crewjam read id %q relay state %q acs %q", req.Request.ID, req.RelayState, req.ACSEndpoint.Location)
			}
			if tt.opts.ForceAuthn && (req.Request.ForceAuthn == nil || !*req.Request.ForceAuthn) {
				t.Error("crewjam did not read ForceAuthn")
			}
		})
	}
}

// TestCrewjamParsesLogoutRequest decodes our LogoutRequest with
// crewjam/saml's LogoutRequest type.
func TestCrewjamParsesLogoutRequest(t *testing.T) {
	s := testSettings(t, "rsa2048")
	m, err := mustNew(t, s).LogoutRequest(LogoutOptions{IdP: "corp", NameID: "u@example.com", SessionIndex: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := verifyRedirect(m.URL, s.Signing.Signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	var lr saml.LogoutRequest
	if err := xml.Unmarshal(inflate(t, params.Get("SAMLRequest")), &lr); err != nil {
		t.Fatal(err)
	}
	if lr.ID != m.ID || lr.NameID == nil || lr.NameID.Value != "u@example.com" || lr.SessionIndex == nil ||
		lr.SessionIndex.Value != "s1" || lr.Issuer == nil || lr.Issuer.Value != s.EntityID || lr.Destination != s.IdPs[0].SLO.Location {
		t.Errorf("crewjam LogoutRequest = %+v", lr)
	}
}
