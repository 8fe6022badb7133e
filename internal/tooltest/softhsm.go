package tooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SoftHSMModules are where Debian and others install SoftHSM2's module.
var SoftHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// SoftHSM is a SoftHSM2 token directory of one test.
type SoftHSM struct {
	Module   string // the PKCS#11 library
	Conf     string // the softhsm2.conf SOFTHSM2_CONF points at
	TokenDir string
}

// NewSoftHSM makes a SoftHSM2 configuration with its own token directory in
// t.TempDir() and points SOFTHSM2_CONF at it for the rest of the test
// (so the test cannot be parallel). It skips (fails when required) when
// softhsm2-util or the module is missing (Debian: softhsm2).
func NewSoftHSM(t testing.TB) *SoftHSM {
	t.Helper()
	Path(t, "softhsm2-util")
	s := &SoftHSM{}
	for _, m := range SoftHSMModules {
		if _, err := os.Stat(m); err == nil {
			s.Module = m
			break
		}
	}
	if s.Module == "" {
		missing(t, "libsofthsm2.so not found (Debian: softhsm2)")
	}
	dir := t.TempDir()
	s.TokenDir = filepath.Join(dir, "tokens")
	s.Conf = filepath.Join(dir, "softhsm2.conf")
	if err := os.Mkdir(s.TokenDir, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := "directories.tokendir = " + s.TokenDir + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(s.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if tt, ok := t.(interface{ Setenv(k, v string) }); ok {
		tt.Setenv("SOFTHSM2_CONF", s.Conf)
	} else {
		t.Fatal("NewSoftHSM needs a *testing.T or *testing.B")
	}
	return s
}

// InitToken initialises a free slot as a token with label, user PIN and SO
// PIN.
func (s *SoftHSM) InitToken(t testing.TB, label, pin, soPIN string) {
	t.Helper()
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", soPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+s.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token %s: %v\n%s", label, err, out)
	}
}

// KeyAccess returns the flags of the "Access:" line pkcs11-tool -O prints
// for the private key labelled label in token (logged in with pin): a key
// that stays in the token has "sensitive" and not "extractable" (and
// "always sensitive", "never extractable" when it was generated so). It
// fails the test when pkcs11-tool (Debian: opensc) shows no such key.
func (s *SoftHSM) KeyAccess(t testing.TB, token, pin, label string) map[string]bool {
	t.Helper()
	cmd := exec.Command(Path(t, "pkcs11-tool"), "--module", s.Module, "--token-label", token, "--login", "--pin", pin, "-O", "--type", "privkey")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+s.Conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool -O: %v\n%s", err, out)
	}
	for _, b := range strings.Split(string(out), "Private Key Object") {
		if field(b, "label:") != label {
			continue
		}
		flags := map[string]bool{}
		for _, f := range strings.Split(field(b, "Access:"), ",") {
			flags[strings.TrimSpace(f)] = true
		}
		return flags
	}
	t.Fatalf("pkcs11-tool -O shows no private key labelled %q:\n%s", label, out)
	return nil
}

// field returns what follows prefix on the first line of s that starts
// with it (after spaces).
func field(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// SoftHSMAvailable reports whether softhsm2-util and the module are
// installed, for benchmarks that add a pkcs11 case only when they are.
func SoftHSMAvailable() bool {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return false
	}
	for _, m := range SoftHSMModules {
		if _, err := os.Stat(m); err == nil {
			return true
		}
	}
	return false
}
