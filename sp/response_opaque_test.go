package sp

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// cbcAttack is issue 13's oracle attack: the attacker strips the Response
// signature of an IdP that signs only the assertion and replaces the
// CipherValue of the aes128-cbc EncryptedAssertion. The test knows the
// session key (it holds the SP key) so that it can choose plaintexts; the
// attacker chooses IVs and blocks blindly, with the same effect.
type cbcAttack struct {
	doc []byte // the response, Response signature stripped
	key []byte // the session key
}

func newCBCAttack(t *testing.T) cbcAttack {
	t.Helper()
	_, encCert := respKey(t, "enc-current")
	doc := editXML(t, crewjamResponse(t, crewjamOpts{encryptTo: encCert}), dropResponseSignature)
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	ek := d.FindElement("//EncryptedKey")
	if alg := algorithmOf(d.FindElement("//EncryptedAssertion/EncryptedData")); alg != ContentAES128CBC {
		t.Fatalf("crewjam encrypts with %s, want aes128-cbc", alg)
	}
	wrapped, err := cipherValue(ek)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := respKey(t, "enc-current")
	key, err := rsa.DecryptOAEP(crypto.SHA1.New(), nil, k.(*rsa.PrivateKey), wrapped, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cbcAttack{doc: doc, key: key}
}

// with returns the response with the assertion's CipherValue replaced by
// IV || AES-128-CBC(plain) padded with zeros and lastByte (ok: the right
// count).
func (a cbcAttack) with(t *testing.T, plain []byte, lastByte byte) string {
	t.Helper()
	n := aes.BlockSize - len(plain)%aes.BlockSize
	padded := append(append([]byte{}, plain...), make([]byte, n)...)
	padded[len(padded)-1] = lastByte
	if lastByte == ok {
		padded[len(padded)-1] = byte(n)
	}
	block, err := aes.NewCipher(a.key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, aes.BlockSize+len(padded))
	if _, err := rand.Read(ct[:aes.BlockSize]); err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCEncrypter(block, ct[:aes.BlockSize]).CryptBlocks(ct[aes.BlockSize:], padded)
	return b64(editXML(t, a.doc, func(root *etree.Element) {
		data := root.FindElement("//EncryptedAssertion/EncryptedData")
		childNS(childNS(data, nsXMLEnc, "CipherData"), nsXMLEnc, "CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
	}))
}

const ok = 0xff

// TestResponseCBCOracle: every chosen ciphertext gets the same answer,
// whatever its padding or plaintext, and info-level logs say nothing more.
func TestResponseCBCOracle(t *testing.T) {
	a := newCBCAttack(t)
	assertion := func(edit func(as *etree.Element)) []byte {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(a.doc); err != nil {
			t.Fatal(err)
		}
		// The plaintext of the real assertion, re-serialized after edit.
		real, err := respValidator(t, respSettings(t)).dec.forIdP("corp", false).decrypt(d.FindElement("//EncryptedAssertion"))
		if err != nil {
			t.Fatal(err)
		}
		edit(real)
		out := etree.NewDocument()
		out.SetRoot(real)
		b, err := out.WriteToBytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name  string
		plain []byte
		last  byte
	}{
		{"padding must be at least one byte", []byte("<x/>"), 0},
		{"padding longer than a block", []byte("<x/>"), 17},
		{"illegal character U+0001", []byte("<a>\x01</a>"), ok},
		{"illegal character U+0002", []byte("<a>\x02</a>"), ok},
		{"not XML", []byte("plain text"), ok},
		{"not an Assertion", []byte(`<x/>`), ok},
		{"structure limit", []byte(strings.Repeat("<e>", 70) + strings.Repeat("</e>", 70)), ok},
		{"unsigned assertion", assertion(func(as *etree.Element) { as.RemoveChild(childNS(as, nsDSig, "Signature")) }), ok},
		{"tampered assertion", assertion(func(as *etree.Element) { as.FindElement("//NameID").SetText("mallory@example.com") }), ok},
	}
	var info, debug strings.Builder
	s := respSettings(t)
	s.Logger = slog.New(slog.NewTextHandler(&info, &slog.HandlerOptions{Level: slog.LevelInfo}))
	v := respValidator(t, s)
	sd := respSettings(t)
	sd.Logger = slog.New(slog.NewTextHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	vd := respValidator(t, sd)
	var first string
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			body := a.with(t, tt.plain, tt.last)
			_, err := v.Verify(context.Background(), "corp", body, respRequestID)
			wantCheck(t, err, CheckDecrypt)
			if !errors.Is(err, ErrResponseOpaque) {
				t.Fatalf("error %v, want ErrResponseOpaque", err)
			}
			if first == "" {
				first = err.Error()
			} else if err.Error() != first {
				t.Fatalf("answer %q differs from %q", err, first)
			}
			if _, err := vd.Verify(context.Background(), "corp", body, respRequestID); !errors.Is(err, ErrResponseOpaque) {
				t.Fatalf("debug validator: %v", err)
			}
		})
	}
	if info.Len() != 0 {
		t.Errorf("info-level log %q, want nothing", info.String())
	}
	for _, detail := range []string{"padding", "illegal character", "saml:Assertion", "Assertion is not signed", "max_depth", "verif"} {
		if !strings.Contains(debug.String(), detail) {
			t.Errorf("debug log lacks %q:\n%s", detail, debug.String())
		}
	}
}

// TestResponseSignedBeforeDecrypt: a signed Response is verified before
// its EncryptedAssertion is decrypted, so a changed ciphertext fails the
// signature, and decryption failures under it keep their detail.
func TestResponseSignedBeforeDecrypt(t *testing.T) {
	_, encCert := respKey(t, "enc-current")
	doc := editXML(t, crewjamResponse(t, crewjamOpts{encryptTo: encCert}), func(root *etree.Element) {
		cv := root.FindElement("//EncryptedAssertion/EncryptedData/CipherData/CipherValue")
		cv.SetText(base64.StdEncoding.EncodeToString(make([]byte, 64)))
	})
	_, err := respValidator(t, respSettings(t)).Verify(context.Background(), "corp", b64(doc), respRequestID)
	wantCheck(t, err, CheckSignature)
}

// TestResponseRefuseCBC: allow_cbc false (globally or for one IdP) refuses
// the aes128-cbc assertion, with detail (it depends on the algorithm name
// only); each accepted use is counted.
func TestResponseRefuseCBC(t *testing.T) {
	_, encCert := respKey(t, "enc-current")
	body := b64(crewjamResponse(t, crewjamOpts{encryptTo: encCert}))
	for _, tt := range []struct {
		name string
		edit func(*ResponseSettings)
	}{
		{"globally", func(s *ResponseSettings) { s.RefuseCBC = true }},
		{"for the idp", func(s *ResponseSettings) { s.IdPs[0].RefuseCBC = true }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := respSettings(t)
			tt.edit(&s)
			_, err := respValidator(t, s).Verify(context.Background(), "corp", body, respRequestID)
			wantCheck(t, err, CheckDecrypt)
			if !strings.Contains(err.Error(), "allow_cbc") {
				t.Fatalf("error %v does not name allow_cbc", err)
			}
		})
	}
	t.Run("counted when accepted", func(t *testing.T) {
		s := respSettings(t)
		var uses []string
		s.OnDeprecatedEncryption = func(idp, alg string) { uses = append(uses, idp+" "+alg) }
		if _, err := respValidator(t, s).Verify(context.Background(), "corp", body, respRequestID); err != nil {
			t.Fatal(err)
		}
		if len(uses) != 1 || uses[0] != "corp "+ContentAES128CBC {
			t.Fatalf("uses %q", uses)
		}
	})
}

// TestResponseSHA1 refuses SHA-1 IdP signatures unless allowed, and warns
// and counts each accepted use.
func TestResponseSHA1(t *testing.T) {
	_, encCert := respKey(t, "enc-current")
	body := b64(crewjamResponse(t, crewjamOpts{encryptTo: encCert, sigMethod: RSASHA1}))
	_, err := respValidator(t, respSettings(t)).Verify(context.Background(), "corp", body, respRequestID)
	wantCheck(t, err, CheckSignature)
	if fips.Enabled() {
		// allow_sha1 is not the fix in FIPS 140-3 mode, and lifts nothing.
		wantFIPSRefusal(t, err)
		s := respSettings(t)
		s.IdPs[0].AllowSHA1 = true
		_, err = respValidator(t, s).Verify(context.Background(), "corp", body, respRequestID)
		wantCheck(t, err, CheckSignature)
		wantFIPSRefusal(t, err)
		return
	}
	if !strings.Contains(err.Error(), "allow_sha1") {
		t.Fatalf("error %v does not name allow_sha1", err)
	}
	var logs strings.Builder
	var uses []string
	s := respSettings(t)
	s.IdPs[0].AllowSHA1 = true
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	s.OnDeprecatedSignature = func(idp, alg string) { uses = append(uses, idp+" "+alg) }
	if _, err := respValidator(t, s).Verify(context.Background(), "corp", body, respRequestID); err != nil {
		t.Fatal(err)
	}
	// Response and Assertion signatures: one use each.
	if len(uses) != 2 || uses[0] != "corp "+RSASHA1 {
		t.Fatalf("uses %q", uses)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "SHA-1") {
		t.Fatalf("log %q, want a warning", logs.String())
	}
}
