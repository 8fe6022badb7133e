package sp

import (
	"bufio"
	"context"
	"io"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// lassoPython returns a python3 that imports lasso (Debian's python3-lasso
// installs it for /usr/bin/python3), or skips (fails when tools are
// required).
func lassoPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{tooltest.Path(t, "python3"), "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import lasso").Run() == nil {
			return py
		}
	}
	if tooltest.Required() {
		t.Fatal("no python3 imports lasso (Debian: python3-lasso)")
	}
	t.Skip("no python3 imports lasso (Debian: python3-lasso)")
	return ""
}

// lassoIdP runs testdata/lasso_logout.py: Lasso as the IdP, one line each
// way over stdin and stdout.
type lassoIdP struct {
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startLasso(t *testing.T, py, mode, binding string) *lassoIdP {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("testdata", "lasso_logout.py"), mode, binding,
		respTestdata("idp.key"), respTestdata("idp.crt"), filepath.Join("testdata", "rsa2048.crt"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("lasso %s %s: %v\n%s", mode, binding, err, stderr.String())
		}
	})
	return &lassoIdP{t: t, cmd: cmd, in: in, out: bufio.NewReader(out)}
}

func (l *lassoIdP) read() string {
	l.t.Helper()
	line, err := l.out.ReadString('\n')
	if err != nil {
		l.t.Fatalf("read from lasso: %v", err)
	}
	return strings.TrimSpace(line)
}

func (l *lassoIdP) write(s string) {
	l.t.Helper()
	if _, err := io.WriteString(l.in, s+"\n"); err != nil {
		l.t.Fatal(err)
	}
}

// lassoInput is what a browser delivers from a Lasso message line.
func lassoInput(t testing.TB, binding, line string) LogoutInput {
	if binding == BindingRedirect {
		return LogoutInput{Binding: BindingRedirect, Query: rawQuery(t, line)}
	}
	return LogoutInput{Binding: BindingPOST, Form: url.Values{ParamSAMLRequest: {line}}}
}

// liveService signs as our SP with the current clock, which Lasso checks.
func liveService(t *testing.T) *Service {
	s := testSettings(t, "rsa2048")
	s.Now = time.Now
	return mustNew(t, s)
}

func liveValidator(t *testing.T) *ResponseValidator {
	return logoutValidator(t, func(s *ResponseSettings) { s.Now = time.Now })
}

// TestLogoutLassoIdPInitiated: Lasso's signed LogoutRequest verifies at
// samlkeyd in both bindings (tampered copies do not), and our LogoutResponse
// verifies at Lasso.
func TestLogoutLassoIdPInitiated(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting python with lasso")
	}
	py := lassoPython(t)
	svc := liveService(t)
	for _, binding := range []string{BindingRedirect, BindingPOST} {
		t.Run(binding, func(t *testing.T) {
			idp := startLasso(t, py, "idp-initiated", binding)
			line := idp.read()
			in := lassoInput(t, binding, line)
			got, err := liveValidator(t).VerifyLogout(context.Background(), "corp", in, "")
			if err != nil {
				t.Fatalf("Lasso's LogoutRequest: %v\n%s", err, line)
			}
			if got.Kind != "LogoutRequest" || got.NameID != "alice@example.com" || strings.Join(got.SessionIndexes, ",") != "s1" || !got.Signed {
				t.Fatalf("message %+v", got)
			}
			if binding == BindingRedirect && got.RelayState != "/bye é" {
				t.Fatalf("RelayState %q", got.RelayState)
			}
			for name, tampered := range lassoTampered(t, binding, in) {
				_, err := liveValidator(t).VerifyLogout(context.Background(), "corp", tampered, "")
				if err == nil {
					t.Errorf("%s: accepted", name)
					continue
				}
				if me, _ := IsMessageRefusal(err); me == nil || me.Check != CheckSignature {
					t.Errorf("%s: %v, want a signature refusal", name, err)
				}
			}
			resp, err := svc.LogoutResponse(LogoutResponseOptions{IdP: "corp", InResponseTo: got.ID, RelayState: got.RelayState, Binding: binding})
			if err != nil {
				t.Fatal(err)
			}
			if binding == BindingRedirect {
				idp.write(resp.URL)
			} else {
				idp.write(resp.Fields[ParamSAMLResponse])
			}
			if ok := idp.read(); ok != "ok" {
				t.Fatalf("lasso said %q", ok)
			}
		})
	}
}

// lassoTampered returns copies of a Lasso message that must be refused.
func lassoTampered(t *testing.T, binding string, in LogoutInput) map[string]LogoutInput {
	if binding == BindingPOST {
		edit := func(f func(*etree.Element)) LogoutInput {
			return LogoutInput{Binding: BindingPOST, Form: editPOST(t, in.Form, f)}
		}
		return map[string]LogoutInput{
			"NameID changed": edit(func(r *etree.Element) {
				childNS(r, nsSAML, "NameID").SetText("admin@example.com")
			}),
			"Destination changed": edit(func(r *etree.Element) { r.CreateAttr("Destination", logoutSLODone) }),
		}
	}
	q := in.Query
	signed, sig, _ := strings.Cut(q, "&Signature=")
	red := func(q string) LogoutInput { return LogoutInput{Binding: BindingRedirect, Query: q} }
	return map[string]LogoutInput{
		"NameID changed":      red(reDeflate(t, q, func(x string) string { return strings.Replace(x, "alice@", "admin@", 1) })),
		"Destination changed": red(reDeflate(t, q, func(x string) string { return strings.Replace(x, logoutSLO+`"`, logoutSLODone+`"`, 1) })),
		"SigAlg changed":      red(strings.Replace(q, url.QueryEscape(RSASHA256), url.QueryEscape(RSASHA512), 1)),
		"re-encoded":          red(mustQuery(t, "?"+signed).Encode() + "&Signature=" + sig),
		"escapes lower-cased": red(lowerEscape.ReplaceAllStringFunc(signed, strings.ToLower) + "&Signature=" + sig),
	}
}

// TestLogoutLassoSPInitiated: our LogoutRequest verifies at Lasso, whose
// LogoutResponse verifies at samlkeyd with our request's ID.
func TestLogoutLassoSPInitiated(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting python with lasso")
	}
	py := lassoPython(t)
	svc := liveService(t)
	for _, binding := range []string{BindingRedirect, BindingPOST} {
		t.Run(binding, func(t *testing.T) {
			idp := startLasso(t, py, "sp-initiated", binding)
			req, err := svc.LogoutRequest(LogoutOptions{IdP: "corp", NameID: "alice@example.com",
				NameIDFormat: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", SessionIndex: []string{"s1"}, Binding: binding})
			if err != nil {
				t.Fatal(err)
			}
			if binding == BindingRedirect {
				idp.write(req.URL)
			} else {
				idp.write(req.Fields[ParamSAMLRequest])
			}
			line := idp.read()
			in := lassoInput(t, binding, line)
			if binding == BindingPOST {
				in.Form = url.Values{ParamSAMLResponse: {line}}
			}
			got, err := liveValidator(t).VerifyLogout(context.Background(), "corp", in, req.ID)
			if err != nil {
				t.Fatalf("Lasso's LogoutResponse: %v\n%s", err, line)
			}
			if got.Kind != "LogoutResponse" || got.Status != LogoutSuccess || got.InResponseTo != req.ID {
				t.Fatalf("message %+v", got)
			}
		})
	}
}

// TestLogoutLassoRefusesTampered: Lasso does check our signatures: a
// LogoutRequest whose query was changed after signing is refused there.
func TestLogoutLassoRefusesTampered(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starting python with lasso")
	}
	py := lassoPython(t)
	req, err := liveService(t).LogoutRequest(LogoutOptions{IdP: "corp", NameID: "alice@example.com", SessionIndex: []string{"s1"}, RelayState: "a"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "lasso_logout.py"), "sp-initiated", BindingRedirect,
		respTestdata("idp.key"), respTestdata("idp.crt"), filepath.Join("testdata", "rsa2048.crt"))
	cmd.Stdin = strings.NewReader(strings.Replace(req.URL, "RelayState=a", "RelayState=b", 1) + "\n")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "InvalidSignature") {
		t.Fatalf("lasso accepted a tampered LogoutRequest: %v\n%s", err, out)
	}
}
