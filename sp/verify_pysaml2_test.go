package sp

import (
	"crypto/x509"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// pysaml2Python returns a python3 that imports saml2 (Debian's
// python3-pysaml2 installs it for /usr/bin/python3, which a python3
// earlier on PATH may shadow), or skips (fails when tools are required).
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

// TestVerifyRedirectPysaml2 verifies LogoutRequests that pysaml2 signed
// for the redirect binding as an IdP does, with a RelayState that needs
// escaping; a changed RelayState is refused.
func TestVerifyRedirectPysaml2(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting python with pysaml2 takes seconds")
	}
	py := pysaml2Python(t)
	key, cert := respTestdata("idp.key"), respCertOnly(t, "idp")
	algs := []string{RSASHA256, RSASHA512, RSASHA1}
	out, err := exec.Command(py, append([]string{filepath.Join("testdata", "pysaml2_redirect.py"), key, "/app?x=1&y=é ü"}, algs...)...).Output()
	if err != nil {
		t.Fatalf("pysaml2: %v\n%s", err, out)
	}
	urls := strings.Fields(string(out))
	if len(urls) != len(algs) {
		t.Fatalf("pysaml2 printed %d URLs for %d algorithms:\n%s", len(urls), len(algs), out)
	}
	for i, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			q := rawQuery(t, urls[i])
			got, err := VerifyRedirect(q, []*x509.Certificate{cert}, alg == RSASHA1)
			if alg == RSASHA1 && fips.Enabled() {
				wantFIPSRefusal(t, err)
				return // allow_sha1 does not lift the refusal in FIPS 140-3 mode
			}
			if err != nil {
				t.Fatalf("VerifyRedirect of pysaml2's query: %v\n%s", err, q)
			}
			if got.Kind != "LogoutRequest" || got.ID != "_pysaml2-1" || got.RelayState != "/app?x=1&y=é ü" {
				t.Fatalf("message %+v", got)
			}
			_, err = VerifyRedirect(strings.Replace(q, "x%3D1", "x%3D2", 1), []*x509.Certificate{cert}, true)
			wantMessageCheck(t, err, CheckSignature)
		})
	}
}
