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
	"strings"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/keys"
)

// goEncrypted builds an EncryptedAssertion-shaped wrapper around plain
// with the standard library: AES-256-GCM content, the key wrapped with
// RSA-OAEP under opts, EncryptionMethod children as given. It exists to
// pin the OAEP digest/MGF parameters that xmlsec1 1.2.37 cannot produce
// (it only does SHA-1 OAEP) and that crewjam/saml gets wrong (it uses the
// DigestMethod hash for MGF1 too).
func goEncrypted(t testing.TB, plain []byte, pub *rsa.PublicKey, keyAlg, methodChildren string, opts *rsa.OAEPOptions) *etree.Element {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	ct := aead.Seal(nonce, nonce, plain, nil)
	wrapped, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	err = doc.ReadFromString(`<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">` +
		`<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc11="http://www.w3.org/2009/xmlenc11#">` +
		`<xenc:EncryptionMethod Algorithm="` + ContentAES256GCM + `"/><ds:KeyInfo><xenc:EncryptedKey>` +
		`<xenc:EncryptionMethod Algorithm="` + keyAlg + `">` + methodChildren + `</xenc:EncryptionMethod>` +
		`<xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(wrapped) + `</xenc:CipherValue></xenc:CipherData>` +
		`</xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>` + base64.StdEncoding.EncodeToString(ct) +
		`</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>`)
	if err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func testDecrypter(t testing.TB, names ...string) *decrypter {
	t.Helper()
	d := &decrypter{rand: rand.Reader}
	for _, n := range names {
		c := respCred(t, n, keys.RoleCurrent)
		d.creds = append(d.creds, decryptionKey{name: n, cert: c.Leaf(), key: c.Signer.(crypto.Decrypter)})
	}
	return d
}

func TestDecryptOAEPParameters(t *testing.T) {
	d := testDecrypter(t, "enc-current")
	pub := d.creds[0].cert.PublicKey.(*rsa.PublicKey)
	plain := []byte(`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">alice</saml:NameID>`)
	dm := func(uri string) string { return `<ds:DigestMethod Algorithm="` + uri + `"/>` }
	mgf := func(uri string) string { return `<xenc11:MGF Algorithm="` + uri + `"/>` }
	const (
		sha1   = "http://www.w3.org/2000/09/xmldsig#sha1"
		sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
		sha512 = "http://www.w3.org/2001/04/xmlenc#sha512"
	)
	for _, tt := range []struct {
		name     string
		alg      string
		children string
		opts     rsa.OAEPOptions
		ok       bool
	}{
		{"mgf1p default sha1", KeyTransportRSAOAEPMGF1P, "", rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}, true},
		{"mgf1p sha256 digest, mgf1 stays sha1", KeyTransportRSAOAEPMGF1P, dm(sha256), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}, true},
		{"mgf1p sha256 digest with sha256 mgf (crewjam's mistake) refused", KeyTransportRSAOAEPMGF1P, dm(sha256), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, false},
		{"mgf1p with an MGF element refused", KeyTransportRSAOAEPMGF1P, dm(sha256) + mgf("http://www.w3.org/2009/xmlenc11#mgf1sha256"), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, false},
		{"xmlenc11 rsa-oaep sha256, mgf1sha256", KeyTransportRSAOAEP, dm(sha256) + mgf("http://www.w3.org/2009/xmlenc11#mgf1sha256"), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256}, true},
		{"xmlenc11 rsa-oaep sha256, default mgf1sha1", KeyTransportRSAOAEP, dm(sha256), rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1}, true},
		{"xmlenc11 rsa-oaep sha512, mgf1sha512", KeyTransportRSAOAEP, dm(sha512) + mgf("http://www.w3.org/2009/xmlenc11#mgf1sha512"), rsa.OAEPOptions{Hash: crypto.SHA512, MGFHash: crypto.SHA512}, true},
		{"xmlenc11 rsa-oaep sha1 defaults", KeyTransportRSAOAEP, dm(sha1), rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}, true},
		{"OAEP label", KeyTransportRSAOAEP, `<xenc:OAEPparams>` + base64.StdEncoding.EncodeToString([]byte("label")) + `</xenc:OAEPparams>`, rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1, Label: []byte("label")}, true},
		{"unknown digest refused", KeyTransportRSAOAEP, dm("http://www.w3.org/2001/04/xmldsig-more#md5"), rsa.OAEPOptions{Hash: crypto.SHA1}, false},
		{"unknown key transport refused", "http://www.w3.org/2001/04/xmlenc#kw-aes256", "", rsa.OAEPOptions{Hash: crypto.SHA1}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			el, err := d.decrypt(goEncrypted(t, plain, pub, tt.alg, tt.children, &tt.opts))
			if !tt.ok {
				if !errors.Is(err, ErrResponseUndecryptable) {
					t.Fatalf("error %v, want ErrResponseUndecryptable", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if el.Tag != "NameID" || el.Text() != "alice" {
				t.Errorf("decrypted %s %q", el.Tag, el.Text())
			}
		})
	}
}

// TestDecryptDamaged feeds the decrypter ciphertexts that crewjam/saml's
// xmlenc would slice out of range (it panics on a short GCM ciphertext and
// on any tripledes-cbc one): each must be an error.
func TestDecryptDamaged(t *testing.T) {
	d := testDecrypter(t, "enc-current")
	pub := d.creds[0].cert.PublicKey.(*rsa.PublicKey)
	good := goEncrypted(t, []byte(`<a/>`), pub, KeyTransportRSAOAEPMGF1P, "", &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1})
	set := func(alg string, ct []byte, keyLen int) *etree.Element {
		el := good.Copy()
		data := childNS(el, nsXMLEnc, "EncryptedData")
		childNS(data, nsXMLEnc, "EncryptionMethod").CreateAttr("Algorithm", alg)
		childNS(childNS(data, nsXMLEnc, "CipherData"), nsXMLEnc, "CipherValue").SetText(base64.StdEncoding.EncodeToString(ct))
		key := make([]byte, keyLen)
		wrapped, err := rsa.EncryptOAEP(crypto.SHA1.New(), rand.Reader, pub, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		ek := childNS(childNS(data, nsDSig, "KeyInfo"), nsXMLEnc, "EncryptedKey")
		childNS(childNS(ek, nsXMLEnc, "CipherData"), nsXMLEnc, "CipherValue").SetText(base64.StdEncoding.EncodeToString(wrapped))
		return el
	}
	for _, tt := range []struct {
		name string
		el   *etree.Element
	}{
		{"aes128-gcm empty", set(ContentAES128GCM, nil, 16)},
		{"aes128-gcm 11 bytes", set(ContentAES128GCM, make([]byte, 11), 16)},
		{"aes256-gcm 20 bytes", set(ContentAES256GCM, make([]byte, 20), 32)},
		{"aes128-cbc 17 bytes", set(ContentAES128CBC, make([]byte, 17), 16)},
		{"aes256-cbc one block", set(ContentAES256CBC, make([]byte, 16), 32)},
		{"aes256-cbc bad padding", set(ContentAES256CBC, make([]byte, 48), 32)},
		{"tripledes-cbc 8 bytes", set(ContentTripleDESCBC, make([]byte, 8), 24)},
		{"tripledes-cbc 12 bytes", set(ContentTripleDESCBC, make([]byte, 12), 24)},
		{"tripledes-cbc bad padding", set(ContentTripleDESCBC, make([]byte, 24), 24)},
		{"wrong key length", set(ContentAES256GCM, make([]byte, 64), 16)},
		{"unknown content algorithm", set("http://www.w3.org/2001/04/xmlenc#kw-aes128", make([]byte, 64), 16)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.decrypt(tt.el); !errors.Is(err, ErrResponseUndecryptable) {
				t.Fatalf("error %v, want ErrResponseUndecryptable", err)
			}
		})
	}
	t.Run("no EncryptedKey", func(t *testing.T) {
		el := good.Copy()
		data := childNS(el, nsXMLEnc, "EncryptedData")
		data.RemoveChild(childNS(data, nsDSig, "KeyInfo"))
		if _, err := d.decrypt(el); err == nil || !strings.Contains(err.Error(), "no EncryptedKey") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("EncryptedKey beside EncryptedData", func(t *testing.T) {
		el := good.Copy()
		data := childNS(el, nsXMLEnc, "EncryptedData")
		ki := childNS(data, nsDSig, "KeyInfo")
		ek := childNS(ki, nsXMLEnc, "EncryptedKey")
		ki.RemoveChild(ek)
		ek.CreateAttr("xmlns:xenc", nsXMLEnc)
		el.AddChild(ek)
		if _, err := d.decrypt(el); err != nil {
			t.Fatal(err)
		}
	})
}

// TestResponseEncryptedIDAndAttribute verifies an assertion whose NameID
// and one attribute are encrypted inside it (EncryptedID,
// EncryptedAttribute), signed with goxmldsig by the IdP key.
func TestResponseEncryptedIDAndAttribute(t *testing.T) {
	d := testDecrypter(t, "enc-current")
	pub := d.creds[0].cert.PublicKey.(*rsa.PublicKey)
	oaep := &rsa.OAEPOptions{Hash: crypto.SHA1, MGFHash: crypto.SHA1}
	encOf := func(tag, plain string) *etree.Element {
		el := goEncrypted(t, []byte(plain), pub, KeyTransportRSAOAEPMGF1P, "", oaep)
		el.Tag = tag
		return el
	}
	doc := crewjamResponse(t, crewjamOpts{})
	tree := etree.NewDocument()
	if err := tree.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	root := tree.Root()
	dropResponseSignature(root)
	as := childNS(root, nsSAML, "Assertion")
	as.RemoveChild(childNS(as, nsDSig, "Signature"))
	subj := childNS(as, nsSAML, "Subject")
	nameID := childNS(subj, nsSAML, "NameID")
	idx := nameID.Index()
	subj.RemoveChild(nameID)
	subj.InsertChildAt(idx, encOf("EncryptedID",
		`<saml:NameID xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">bob</saml:NameID>`))
	childNS(as, nsSAML, "AttributeStatement").AddChild(encOf("EncryptedAttribute",
		`<saml:Attribute xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Name="secret"><saml:AttributeValue>42</saml:AttributeValue></saml:Attribute>`))
	key, cert := respKey(t, "idp")
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	// Exclusive c14n, as IdPs sign assertions: the signature must not
	// depend on the Response around it.
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(as.Copy())
	if err != nil {
		t.Fatal(err)
	}
	root.InsertChildAt(as.Index(), signed)
	root.RemoveChild(as)
	out, err := tree.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	s := respSettings(t)
	s.IdPs[0].EncryptAssertion = false
	a, err := respValidator(t, s).Verify(context.Background(), "corp", b64(out), respRequestID)
	if err != nil {
		t.Fatal(err)
	}
	if a.NameID != "bob" || a.NameIDFormat != "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" {
		t.Errorf("name id %q format %q", a.NameID, a.NameIDFormat)
	}
	if got := a.Attributes["secret"]; len(got) != 1 || got[0] != "42" {
		t.Errorf("secret attribute %q (all %v)", got, a.Attributes)
	}
	if got := a.Attributes[respMail]; len(got) != 1 {
		t.Errorf("plain attributes lost: %v", a.Attributes)
	}
	// Decryption keys that do not fit: refused as decrypt.
	s.Decryption = []*keys.Credential{respCred(t, "enc-next", keys.RoleNext)}
	_, err = respValidator(t, s).Verify(context.Background(), "corp", b64(out), respRequestID)
	wantCheck(t, err, CheckDecrypt)
}
