package sp

import (
	"encoding/base64"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// TestGolden pins whole messages with a fixed clock, a fixed random source
// and the RSA fixture key (PKCS#1 v1.5 signatures are deterministic).
// Regenerate with: go test ./sp -run Golden -update
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		send func(svc *Service) (*Message, error)
	}{
		{"authn-redirect", func(svc *Service) (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", RelayState: "a&b=c d+é", ForceAuthn: true,
				NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
				AuthnContext: []string{"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}})
		}},
		{"authn-post", func(svc *Service) (*Message, error) {
			return svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: BindingPOST, RelayState: `"><script>`})
		}},
		{"logout-redirect", func(svc *Service) (*Message, error) {
			return svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "user@example.com", SessionIndex: []string{"_s1"}})
		}},
		{"logout-post", func(svc *Service) (*Message, error) {
			return svc.LogoutRequest(LogoutOptions{IdP: "corp", Binding: BindingPOST, NameID: "user@example.com",
				Reason: "urn:oasis:names:tc:SAML:2.0:logout:user"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tt.send(mustNew(t, testSettings(t, "rsa2048")))
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{}
			if m.Binding == BindingRedirect {
				u, _ := url.Parse(m.URL)
				files[tt.name+".url"] = []byte(m.URL + "\n")
				files[tt.name+".xml"] = inflate(t, u.Query().Get("SAMLRequest"))
			} else {
				x, _ := base64.StdEncoding.DecodeString(m.Fields["SAMLRequest"])
				files[tt.name+".xml"] = x
				files[tt.name+".html"] = []byte(m.HTML)
			}
			for name, got := range files {
				path := filepath.Join("testdata", "golden", name)
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if string(got) != string(want) {
					t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", path, got, want)
				}
			}
		})
	}
}
