package sp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fuzzService(t testing.TB) (*Service, Settings) {
	s := testSettings(t, "ecp256") // an EC key keeps each run fast
	return mustNew(t, s), s
}

// FuzzAuthnRequest feeds arbitrary RelayState and option strings to
// AuthnRequest: it must either refuse them with a request error or produce
// a message whose values read back unchanged and, for the redirect
// binding, whose signature the independent verifier accepts.
func FuzzAuthnRequest(f *testing.F) {
	for _, rs := range []string{"", "a&SigAlg=evil", "x=1&y=2", "50% + #frag", "Grüße 東京", `"><script>alert(1)</script>`,
		strings.Repeat("a", 80), strings.Repeat("a", 81), "a\x00b", "\xff"} {
		f.Add(rs, "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", "urn:x:ac", "redirect")
		f.Add(rs, "", "", "post")
	}
	f.Add("r", "a<b&c>\"'", "]]>", "")
	svc, s := fuzzService(f)
	pub := s.Signing.Signer.Public()
	f.Fuzz(func(t *testing.T, relayState, format, ac, binding string) {
		o := AuthnOptions{IdP: "corp", RelayState: relayState, NameIDFormat: format, Binding: binding}
		if ac != "" {
			o.AuthnContext = StringList{ac}
		}
		m, err := svc.AuthnRequest(o)
		if err != nil {
			if !IsBadRequest(err) {
				t.Fatalf("error is not a request error: %v", err)
			}
			return
		}
		var doc []byte
		switch m.Binding {
		case BindingRedirect:
			_, params, err := verifyRedirect(m.URL, pub)
			if err != nil {
				t.Fatalf("independent verifier: %v\n%s", err, m.URL)
			}
			if params.Get("RelayState") != relayState || len(params["SigAlg"]) != 1 {
				t.Fatalf("RelayState %q read back as %q (%d SigAlg)", relayState, params.Get("RelayState"), len(params["SigAlg"]))
			}
			doc = inflate(t, params.Get("SAMLRequest"))
		case BindingPOST:
			if m.Fields["RelayState"] != relayState {
				t.Fatalf("RelayState field %q", m.Fields["RelayState"])
			}
			if relayState != "" && strings.Contains(relayState, "<") && strings.Contains(m.HTML, relayState) {
				t.Fatalf("RelayState reached the page unescaped")
			}
			if doc, err = base64.StdEncoding.DecodeString(m.Fields["SAMLRequest"]); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("binding %q", m.Binding)
		}
		var a authnXML
		if err := xml.Unmarshal(doc, &a); err != nil {
			t.Fatalf("message is not XML: %v\n%s", err, doc)
		}
		if a.Policy.Format != format || (ac != "" && (a.Context == nil || a.Context.Refs[0] != ac)) {
			t.Fatalf("values changed: format %q, context %+v", a.Policy.Format, a.Context)
		}
	})
}

// FuzzRequestJSON decodes API bodies the way the daemon does, strictly,
// into AuthnOptions and LogoutOptions and sends them: no input may panic,
// and every refusal is a request error.
func FuzzRequestJSON(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("no seeds in testdata/requests: %v", err)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	svc, _ := fuzzService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var a AuthnOptions
		if decodeStrict(body, &a) == nil {
			if _, err := svc.AuthnRequest(a); err != nil && !IsBadRequest(err) {
				t.Fatalf("authn: %v", err)
			}
		}
		var l LogoutOptions
		if decodeStrict(body, &l) == nil {
			if _, err := svc.LogoutRequest(l); err != nil && !IsBadRequest(err) {
				t.Fatalf("logout: %v", err)
			}
		}
	})
}

func decodeStrict(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// TestRequestJSONFixtures pins what each fixture body does.
func TestRequestJSONFixtures(t *testing.T) {
	svc, _ := fuzzService(t)
	tests := []struct {
		file   string
		logout bool
		want   error // nil: a message
	}{
		{"authn-redirect.json", false, nil},
		{"authn-post-options.json", false, nil},
		{"logout-redirect.json", true, nil},
		{"logout-post-list.json", true, nil},
		{"bad-relay-state-81.json", true, ErrBadRequest},
		{"bad-binding.json", true, ErrBadBinding},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "requests", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var m *Message
			if tt.logout {
				var o LogoutOptions
				if err := decodeStrict(body, &o); err != nil {
					t.Fatal(err)
				}
				m, err = svc.LogoutRequest(o)
			} else {
				var o AuthnOptions
				if err := decodeStrict(body, &o); err != nil {
					t.Fatal(err)
				}
				m, err = svc.AuthnRequest(o)
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (m != nil) {
				t.Fatalf("got %v, %v; want %v", m, err, tt.want)
			}
		})
	}
}

func TestStringListJSON(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`"a"`, []string{"a"}, true},
		{`["a","b"]`, []string{"a", "b"}, true},
		{`null`, nil, true},
		{`[]`, []string{}, true},
		{`1`, nil, false},
		{`[1]`, nil, false},
		{`{"a":1}`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var l StringList
			err := json.Unmarshal([]byte(tt.in), &l)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			if tt.ok && strings.Join(l, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %q", l)
			}
		})
	}
}
