package keys

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys/internal/pkcs12"
	"github.com/samlkeyd/samlkeyd/secret"
)

// TestLoadFileKDFBudget: the 9.7 KB file of issue 13 (30 key bags of 2^20
// PBKDF2 iterations, 5.4-6 s to refuse before) is refused within the
// per-file KDF budget, by an error that names the file and the budget.
func TestLoadFileKDFBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: costs up to the KDF budget (~1 s)")
	}
	path := filepath.Join("testdata", "kdf-bomb.p12")
	_, err := LoadFile(path, secret.FromString(testStorePass), secret.Value{})
	var be *pkcs12.KDFBudgetError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a KDF budget error", err)
	}
	for _, want := range []string{path, "budget of 8000000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
