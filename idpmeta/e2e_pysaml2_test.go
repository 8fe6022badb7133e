package idpmeta

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/sp"
)

// pysaml2Python returns a python3 that imports saml2, or skips (fails when
// tools are required).
func pysaml2Python(t *testing.T) string {
	t.Helper()
	for _, py := range []string{tooltest.Path(t, "python3"), "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import saml2").Run() == nil {
			return py
		}
	}
	if tooltest.Required() {
		t.Fatal("no python3 imports saml2 (Debian: python3-pysaml2)")
	}
	t.Skip("no python3 imports saml2 (Debian: python3-pysaml2)")
	return ""
}

// TestEndToEndPysaml2: a pysaml2 IdP, known to samlkeyd only through a
// federation aggregate and only through MDQ, answers our AuthnRequest; the
// response validates with the IdP entity the sources resolve.
func TestEndToEndPysaml2(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting python with pysaml2 takes seconds")
	}
	py := pysaml2Python(t)
	k := testKeys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "fed.xml")
	if err := os.WriteFile(path, signGo(t, smallAggregate(t, 3, ""), k[0], false), 0o600); err != nil {
		t.Fatal(err)
	}
	mdqID := "https://idp.example.org/idp/shibboleth"
	srv := newMDQServer(t, map[string][]byte{mdqID: entityDoc(t, mdqID, "")}, nil)
	cfg := []config.IdPSource{
		{Name: "fed", AggregateFile: path, SigningCert: "Fed signer"},
		{Name: "mdq", MDQURL: srv.URL, SigningCert: "Fed signer"},
	}
	src, err := FromConfig(cfg, func(string) (*x509.Certificate, error) { return k[0].cert, nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := src.UpdateDue(context.Background(), time.Now()); len(errs) > 0 {
		t.Fatal(errs)
	}
	spMD := filepath.Join(dir, "sp.xml")
	os.WriteFile(spMD, fmt.Appendf(nil, `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`, e2eSP, e2eACS), 0o600)
	for _, id := range []string{"https://idp00000.uni0.example.edu/idp/shibboleth", mdqID} {
		t.Run(id, func(t *testing.T) {
			e, err := src.Lookup(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			cfgIdP, err := e.ConfigIdP(src.Config(e.Source))
			if err != nil {
				t.Fatal(err)
			}
			svc, err := sp.New(sp.Settings{EntityID: e2eSP, ACS: []config.Endpoint{{Binding: "post", Location: e2eACS, Default: true}}, IdPs: []config.IdP{cfgIdP},
				Signing: &keys.Credential{Signer: k[4].key, Chain: []*x509.Certificate{k[4].cert}}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := svc.AuthnRequest(sp.AuthnOptions{IdP: id})
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(py, filepath.Join("testdata", "pysaml2_idp.py"), id, cfgIdP.SSO.Location,
				"testdata/key1.pem", "testdata/cert1.pem", spMD, m.ID, e2eSP, e2eACS).Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("pysaml2: %v\n%s", err, ee.Stderr)
				}
				t.Fatalf("pysaml2: %v", err)
			}
			ri, err := e.ResponseIdP(src.Config(e.Source))
			if err != nil {
				t.Fatal(err)
			}
			ri.WantAssertionSigned = true
			v, err := sp.NewResponseValidator(sp.ResponseSettings{EntityID: e2eSP, ACSURLs: []string{e2eACS}, IdPs: []sp.ResponseIdP{ri}})
			if err != nil {
				t.Fatal(err)
			}
			a, err := v.Verify(context.Background(), id, strings.TrimSpace(string(out)), m.ID)
			if err != nil {
				t.Fatalf("pysaml2's response: %v", err)
			}
			if a.Issuer != id || a.NameID != "alice@example.org" || a.Attributes["mail"] == nil && len(a.Attributes) == 0 {
				t.Errorf("assertion = %+v", a)
			}
		})
	}
}
