//go:build cgo

package daemon

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

const (
	tokenLabel = "samlkeyd"
	tokenPIN   = "4711-user-PIN"
)

// tokenRecord generates an RSA key pair with a self-signed certificate in
// the SoftHSM2 token and adds it as a pkcs11 record with pin, returning the
// record id and the certificate.
func tokenRecord(t *testing.T, s *tooltest.SoftHSM, st *store.Store, token, label, pin string) (string, *x509.Certificate) {
	t.Helper()
	u := pkcs11.URI{Token: token}
	k, err := pkcs11.Generate(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: s.Module, URI: u, PIN: secret.FromString(tokenPIN)},
		Label:   label, KeyType: "rsa", DName: "CN=" + label, ValidityDays: 30,
	})
	if err != nil {
		t.Fatalf("generate %s: %v", label, err)
	}
	chain := k.Chain()
	_ = k.Close()
	u.Object = label
	rec, err := st.AddRecord(context.Background(), "test", store.NewRecord{
		Name: label, Type: store.TypePKCS11, Data: []byte(u.String()), StorePassword: secret.FromString(pin), Chain: chain,
	})
	if err != nil {
		t.Fatalf("add pkcs11 record %s: %v", label, err)
	}
	return rec.ID, chain[0]
}

// TestPKCS11Records: a daemon whose signing and encryption properties
// select token keys signs AuthnRequests that verify with the token's
// certificate and decrypts a response encrypted to it by another SAML
// implementation; xmlsec1 verifies its metadata and POST signatures and
// encrypts an assertion to it; the token keys are opened once and kept
// across builds.
func TestPKCS11Records(t *testing.T) {
	s := tooltest.NewSoftHSM(t)
	s.InitToken(t, tokenLabel, tokenPIN, "0815-so-PIN")
	s.InitToken(t, "other", tokenPIN, "0815-so-PIN") // for the wrong-PIN case
	ctx := context.Background()
	st := openStore(t)
	sigID, sigCert := tokenRecord(t, s, st, tokenLabel, "sp-signing", tokenPIN)
	encID, _ := tokenRecord(t, s, st, tokenLabel, "sp-encryption", tokenPIN)
	for prop, id := range map[string]string{store.PropSigningKeystore: sigID, store.PropEncryptionKeystore: encID} {
		if err := st.SetProperty(ctx, "test", prop, id); err != nil {
			t.Fatal(err)
		}
	}
	idp := newTestIdP(t, st)
	cfg := testConfig()
	cfg.PKCS11 = config.PKCS11{Module: s.Module}
	cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
	cfg.IdPs[0].EncryptAssertion = true
	cfg.SP.Metadata.Signed = true
	d := newDaemon(t, cfg, st)
	t.Cleanup(d.closeTokens) // the module is finalised: the next test's token directory is read

	msg, err := d.Snapshot().SP.AuthnRequest(sp.AuthnOptions{IdP: "corp", Binding: "redirect"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(msg.URL)
	if _, err := sp.VerifyRedirect(u.RawQuery, []*x509.Certificate{sigCert}, false); err != nil {
		t.Fatalf("the AuthnRequest signed through the token does not verify with its certificate: %v", err)
	}

	h := d.Handler()
	metadata := get(t, h, "/saml/metadata").Body.Bytes()
	resp := idp.respond(t, metadata, "_tok1")
	body, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp, "request_id": "_tok1"})
	w := postJSON(t, h, "/api/v1/responses", testToken, string(body))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "alice@example.com") {
		t.Fatalf("response encrypted to the token key: %d %s", w.Code, w.Body)
	}

	// A rebuild over the same store versions opens no token again.
	opened := map[string]int{}
	if _, err := Build(ctx, cfg, st, BuildOptions{Previous: d.Snapshot(), OnOpen: func(id string) { opened[id]++ }}); err != nil {
		t.Fatal(err)
	}
	if opened[sigID]+opened[encID] != 0 {
		t.Errorf("a rebuild reopened token records: %v", opened)
	}
	t.Run("xmlsec1", func(t *testing.T) { pkcs11XMLSec(t, d, idp) })
	// SoftHSM2 reads its configuration once per process: the failure
	// cases share this test's token.
	t.Run("wrong PIN", func(t *testing.T) { pkcs11WrongPIN(t, s) })
}

// pkcs11WrongPIN: a pkcs11 record with a wrong PIN, or without
// pkcs11.module, fails the build with an error naming the record and never
// the PIN.
func pkcs11WrongPIN(t *testing.T, s *tooltest.SoftHSM) {
	ctx := context.Background()
	st := openStore(t)
	const badPIN = "9999-bad-PIN"
	// A token of its own (made before the module loaded, see
	// TestPKCS11Records): PKCS#11 login state is per token and process,
	// and the daemon there keeps the first token logged in.
	id, _ := tokenRecord(t, s, st, "other", "sp-signing", badPIN)
	if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, id); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, module string
		want         error
	}{
		{"wrong PIN", s.Module, pkcs11.ErrWrongPIN},
		{"no module", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.PKCS11.Module = tc.module
			_, err := Build(ctx, cfg, st, BuildOptions{})
			if err == nil {
				t.Fatal("built a snapshot with a token key that does not open")
			}
			if !strings.Contains(err.Error(), id) || strings.Contains(err.Error(), badPIN) {
				t.Errorf("error must name record %s and not the PIN: %v", id, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error %v is not %v", err, tc.want)
			}
		})
	}
}
