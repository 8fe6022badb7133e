package sp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// fipsRefused reports whether the mode is on and err is keys/fips's
// refusal, failing t when the mode is on and err is another error. A test
// whose fixture needs an algorithm the mode refuses stops there.
func fipsRefused(t testing.TB, err error) bool {
	t.Helper()
	if !fips.Enabled() || err == nil {
		return false
	}
	wantFIPSRefusal(t, err)
	return true
}

// wantFIPSRefusal fails t unless err is keys/fips's refusal, naming the mode.
func wantFIPSRefusal(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, fips.ErrRefused) || !strings.Contains(err.Error(), "FIPS 140-3 mode") {
		t.Fatalf("in FIPS 140-3 mode: %v, want the refusal of keys/fips", err)
	}
}

// resignRedirect signs a redirect-binding URL's query again with key and
// the RSA algorithm alg, as an IdP would. sp cannot make rsa-sha1 messages
// in FIPS 140-3 mode; Go's module still signs with SHA-1 in fips140=on, so
// the tests can check that the verifier refuses what an IdP sends.
func resignRedirect(t testing.TB, rawURL string, key crypto.Signer, alg string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	signed, _, _ := strings.Cut(u.RawQuery, "&Signature=")
	before, _, ok := strings.Cut(signed, "&SigAlg=")
	if !ok {
		t.Fatalf("no SigAlg in %s", rawURL)
	}
	a, err := LookupAlgorithm(alg)
	if err != nil {
		t.Fatal(err)
	}
	signed = before + "&SigAlg=" + url.QueryEscape(a.URI)
	h := a.Hash.New()
	h.Write([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key.(*rsa.PrivateKey), a.Hash, h.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = signed + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	return u.String()
}

// sha1LogoutRequest is a redirect LogoutRequest from the test IdP signed
// with rsa-sha1: made by sp with the mode off, signed by hand with it on.
func sha1LogoutRequest(t testing.TB) *Message {
	t.Helper()
	if !fips.Enabled() {
		m, err := fakeIdP(t, "", RSASHA1, true).LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m, err := fakeIdP(t, "", RSASHA256, true).LogoutRequest(LogoutOptions{IdP: "sp", NameID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := respKey(t, "idp")
	m.URL = resignRedirect(t, m.URL, key, RSASHA1)
	return m
}

// newOrRefused is mustNew, except that in FIPS 140-3 mode a refusal by
// keys/fips is asserted and gives nil: the caller's test is about an
// algorithm the mode refuses, and stops.
func newOrRefused(t testing.TB, s Settings) *Service {
	t.Helper()
	svc, err := New(s)
	if fipsRefused(t, err) {
		return nil
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return svc
}
