package sp

import (
	"crypto"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		modify func(s *Settings)
		want   string // "" = New succeeds; otherwise a substring of the error
	}{
		{name: "valid", modify: func(*Settings) {}},
		{name: "ec key with default algorithm", modify: func(s *Settings) { s.Signing = credential(t, "ecp256") }},
		{name: "javascript sso location", want: `scheme "javascript" is not https`, modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "javascript:alert(document.domain)//"
		}},
		{name: "data slo location", want: `scheme "data" is not https`, modify: func(s *Settings) {
			s.IdPs[0].SLO.Location = "data:text/html,<script>alert(1)</script>"
		}},
		{name: "http sso without allow_http", want: "allow_http is for tests only", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "http://idp.example.com/sso"
		}},
		{name: "http sso with allow_http", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "http://127.0.0.1:8081/sso"
			s.IdPs[0].AllowHTTP = true
		}},
		{name: "relative location", want: `scheme "" is not https`, modify: func(s *Settings) { s.IdPs[0].SSO.Location = "/sso" }},
		{name: "location with fragment", want: "fragment", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "https://idp.example.com/sso#x"
		}},
		{name: "location with user info", want: "user info", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "https://u:p@idp.example.com/sso"
		}},
		{name: "location with quote", want: "escape", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = `https://idp.example.com/sso?a="><script>`
		}},
		{name: "host with semicolon", want: "not a DNS name", modify: func(s *Settings) {
			s.IdPs[0].SSO.Location = "https://idp.example.com;script-src/sso"
		}},
		{name: "host with comma", want: "not a DNS name", modify: func(s *Settings) {
			s.IdPs[0].SLO.Location = "https://a,b/slo"
		}},
		{name: "idn host", want: "punycode", modify: func(s *Settings) { s.IdPs[0].SSO.Location = "https://é.example/sso" }},
		{name: "ipv6 host and port", modify: func(s *Settings) { s.IdPs[0].SSO.Location = "https://[2001:db8::1]:8443/sso" }},
		{name: "empty port", want: "not a DNS name", modify: func(s *Settings) { s.IdPs[0].SSO.Location = "https://idp.example.com:/sso" }},
		{name: "unknown sso binding", want: `bad binding "artifact"`, modify: func(s *Settings) { s.IdPs[0].SSO.Binding = "artifact" }},
		{name: "binding urn", modify: func(s *Settings) { s.IdPs[0].SSO.Binding = BindingPOSTURN }},
		{name: "unknown acs binding", want: "sp acs[0]", modify: func(s *Settings) { s.ACS[0].Binding = "soap" }},
		{name: "javascript acs", want: "sp acs[1]", modify: func(s *Settings) { s.ACS[1].Location = "javascript:x" }},
		{name: "unknown algorithm", want: "unknown signature algorithm", modify: func(s *Settings) {
			s.IdPs[0].SignatureAlgorithm = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
		}},
		{name: "ec algorithm with rsa key", want: "needs an EC key", modify: func(s *Settings) {
			s.IdPs[0].SignatureAlgorithm = ECDSASHA256
		}},
		{name: "rsa algorithm with ec key", want: "needs an RSA key", modify: func(s *Settings) {
			s.Signing = credential(t, "ecp256")
			s.IdPs[0].SignatureAlgorithm = RSASHA256
		}},
		{name: "rsa-1024 key", want: "at least 2048", modify: func(s *Settings) { s.Signing = credential(t, "rsa1024") }},
		{name: "mismatch ignored when not signing", modify: func(s *Settings) {
			s.IdPs[0].SignatureAlgorithm = ECDSASHA256
			s.IdPs[0].SignAuthnRequest, s.IdPs[0].SignLogoutRequest = false, false
		}},
		{name: "unknown digest", want: "digest_algorithm", modify: func(s *Settings) { s.IdPs[0].DigestAlgorithm = "md5" }},
		{name: "signing without key", want: "no current signing key", modify: func(s *Settings) { s.Signing = nil }},
		{name: "no key, no signing", modify: func(s *Settings) {
			s.Signing = nil
			s.IdPs[0].SignAuthnRequest, s.IdPs[0].SignLogoutRequest = false, false
		}},
		{name: "next key signs", want: "only the current key signs", modify: func(s *Settings) { s.Signing.Role = keys.RoleNext }},
		{name: "certificate of another key", want: "does not match the private key", modify: func(s *Settings) {
			s.Signing.Chain = credential(t, "ecp256").Chain
		}},
		{name: "duplicate idp", want: "configured twice", modify: func(s *Settings) { s.IdPs = append(s.IdPs, testIdP("corp")) }},
		{name: "idp without name", want: "no name", modify: func(s *Settings) { s.IdPs[0].Name = "" }},
		{name: "no entity id", want: "entity_id is empty", modify: func(s *Settings) { s.EntityID = "" }},
		{name: "no slo is fine", modify: func(s *Settings) { s.IdPs[0].SLO = config.Endpoint{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSettings(t, "rsa2048")
			tt.modify(&s)
			_, err := New(s)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadSettings) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want ErrBadSettings containing %q", err, tt.want)
			}
		})
	}
}

func TestDeprecatedRSASHA1(t *testing.T) {
	log, buf := logBuffer()
	var calls []string
	s := testSettings(t, "rsa2048")
	s.IdPs[0].SignatureAlgorithm = "rsa-sha1"
	s.Logger = log
	s.OnDeprecated = func(idp, alg string) { calls = append(calls, idp+" "+alg) }
	if fips.Enabled() {
		_, err := New(s)
		wantFIPSRefusal(t, err)
		return
	}
	svc := mustNew(t, s)
	if n := strings.Count(buf.String(), `"msg":"deprecated signature algorithm configured"`); n != 1 {
		t.Fatalf("build logged %d warnings, want 1:\n%s", n, buf)
	}
	if !strings.Contains(buf.String(), `"level":"WARN"`) || !strings.Contains(buf.String(), RSASHA1) {
		t.Fatalf("build warning lacks level or algorithm:\n%s", buf)
	}
	buf.Reset()
	m, err := svc.AuthnRequest(AuthnOptions{IdP: "corp"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := verifyRedirect(m.URL, s.Signing.Signer.Public()); err != nil {
		t.Fatalf("rsa-sha1 redirect does not verify: %v", err)
	}
	if _, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "u@example.com", Binding: BindingPOST}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), `"msg":"signing with a deprecated algorithm"`); n != 2 {
		t.Errorf("two uses logged %d warnings, want 2:\n%s", n, buf)
	}
	if want := "corp " + RSASHA1; len(calls) != 2 || calls[0] != want || calls[1] != want {
		t.Errorf("OnDeprecated calls = %q, want twice %q", calls, want)
	}
}

func TestDefaultAlgorithmNotDeprecated(t *testing.T) {
	log, buf := logBuffer()
	s := testSettings(t, "rsa2048")
	s.Logger = log
	s.OnDeprecated = func(string, string) { t.Error("OnDeprecated called for the default algorithm") }
	svc := mustNew(t, s)
	if a, _ := svc.Algorithm("corp"); a.URI != RSASHA256 {
		t.Errorf("default algorithm = %s, want rsa-sha256", a.URI)
	}
	if _, err := svc.AuthnRequest(AuthnOptions{IdP: "corp"}); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("unexpected log:\n%s", buf)
	}
}

func TestAuthnRequestsSigned(t *testing.T) {
	s := testSettings(t, "rsa2048")
	if !mustNew(t, s).AuthnRequestsSigned() {
		t.Error("AuthnRequestsSigned = false with sign_authn_request on")
	}
	s.IdPs[0].SignAuthnRequest = false
	if mustNew(t, s).AuthnRequestsSigned() {
		t.Error("AuthnRequestsSigned = true with every sign_authn_request off")
	}
}

// failingSigner is a key whose operation fails, as an HSM might.
type failingSigner struct{ crypto.Signer }

func (failingSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("token removed")
}

func TestSignerFailureIsNotABadRequest(t *testing.T) {
	s := testSettings(t, "rsa2048")
	s.Signing.Signer = failingSigner{s.Signing.Signer}
	svc := mustNew(t, s)
	for _, b := range []string{BindingRedirect, BindingPOST} {
		_, err := svc.AuthnRequest(AuthnOptions{IdP: "corp", Binding: b})
		if err == nil || IsBadRequest(err) || !strings.Contains(err.Error(), "token removed") {
			t.Errorf("%s: err = %v, want the signer's error, not a bad request", b, err)
		}
	}
}
