//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	p11 "github.com/miekg/pkcs11"
)

// maxObjects bounds how many objects of one class List reads from a token.
const maxObjects = 1000

// List returns the initialised tokens module shows and, with o.PIN, the key pairs and
// certificates of the token o.Token names (or of the only token). Key
// values are never read: only labels, ids, types, sizes and flags. In a
// process that is logged into the token already (a Key is open), the token
// does not check the PIN again (PKCS#11 login state is per process): it is
// compared with the PIN that logged in (see logins).
func List(module string, o ListOptions) ([]TokenInfo, error) {
	moduleMu.Lock()
	defer moduleMu.Unlock()
	var tokens []TokenInfo
	err := withModule(module, func(ctx *p11.Ctx) error {
		slots, err := ctx.GetSlotList(true)
		if err != nil {
			return fmt.Errorf("list slots: %w", classify(err))
		}
		for _, s := range slots {
			ti, err := ctx.GetTokenInfo(s)
			if err != nil {
				return fmt.Errorf("slot %d: token info: %w", s, classify(err))
			}
			if ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 || (o.Token != "" && o.Token != ti.Label) {
				continue
			}
			tokens = append(tokens, TokenInfo{Slot: s, Label: ti.Label, Manufacturer: ti.ManufacturerID, Model: ti.Model, Serial: ti.SerialNumber})
		}
		if o.PIN.Empty() {
			return nil
		}
		switch {
		case len(tokens) == 0:
			return fmt.Errorf("token %q: %w", o.Token, ErrTokenNotFound)
		case len(tokens) > 1:
			return fmt.Errorf("%d tokens: name the one to log into with --token", len(tokens))
		}
		return listObjects(ctx, module, &tokens[0], o)
	})
	if err != nil {
		return nil, fmt.Errorf("list module %q: %w", module, err)
	}
	return tokens, nil
}

// listObjects logs into t and reads its private keys and certificates.
func listObjects(ctx *p11.Ctx, module string, t *TokenInfo, o ListOptions) error {
	sh, err := ctx.OpenSession(t.Slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return fmt.Errorf("token %q: open session: %w", t.Label, classify(err))
	}
	defer func() { _ = ctx.CloseSession(sh) }()
	err = ctx.Login(sh, p11.CKU_USER, string(o.PIN.Reveal()))
	var code p11.Error
	id := loginID(module, t.Label, t.Serial)
	switch {
	case err == nil:
		logins.remember(id, o.PIN)
		defer func() { _ = ctx.Logout(sh) }()
	case errors.As(err, &code) && code == p11.CKR_USER_ALREADY_LOGGED_IN:
		if err := logins.check(id, o.PIN); err != nil {
			return fmt.Errorf("token %q: log in: %w", t.Label, err)
		}
	default:
		return fmt.Errorf("token %q: log in: %w", t.Label, classify(err))
	}
	certs, err := findObjects(ctx, sh, p11.CKO_CERTIFICATE)
	if err != nil {
		return fmt.Errorf("token %q: %w", t.Label, err)
	}
	for _, h := range certs {
		t.Certs = append(t.Certs, certInfo(ctx, sh, h))
	}
	privs, err := findObjects(ctx, sh, p11.CKO_PRIVATE_KEY)
	if err != nil {
		return fmt.Errorf("token %q: %w", t.Label, err)
	}
	for _, h := range privs {
		k := keyInfo(ctx, sh, h)
		for _, c := range t.Certs {
			if len(k.ID) > 0 && bytes.Equal(c.ID, k.ID) {
				k.Certs = append(k.Certs, c)
			}
		}
		t.Keys = append(t.Keys, k)
	}
	t.Listed = true
	return nil
}

func findObjects(ctx *p11.Ctx, sh p11.SessionHandle, class uint) ([]p11.ObjectHandle, error) {
	if err := ctx.FindObjectsInit(sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}); err != nil {
		return nil, fmt.Errorf("find objects: %w", classify(err))
	}
	defer func() { _ = ctx.FindObjectsFinal(sh) }()
	hs, _, err := ctx.FindObjects(sh, maxObjects)
	if err != nil {
		return nil, fmt.Errorf("find objects: %w", classify(err))
	}
	return hs, nil
}

// attrs reads the attributes one by one, so that one the token refuses
// (a sensitive value) leaves the others readable; a refused one is nil.
func attrs(ctx *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle, types ...uint) map[uint][]byte {
	out := make(map[uint][]byte, len(types))
	for _, t := range types {
		a, err := ctx.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(t, nil)})
		if err == nil && len(a) == 1 {
			out[t] = a[0].Value
		}
	}
	return out
}

func certInfo(ctx *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle) CertInfo {
	a := attrs(ctx, sh, h, p11.CKA_LABEL, p11.CKA_ID, p11.CKA_VALUE)
	c := CertInfo{Label: string(a[p11.CKA_LABEL]), ID: a[p11.CKA_ID]}
	if cert, err := x509.ParseCertificate(a[p11.CKA_VALUE]); err == nil {
		c.Cert = cert
	}
	return c
}

func keyInfo(ctx *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle) KeyInfo {
	a := attrs(ctx, sh, h, p11.CKA_LABEL, p11.CKA_ID, p11.CKA_KEY_TYPE, p11.CKA_MODULUS, p11.CKA_EC_PARAMS,
		p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_ALWAYS_SENSITIVE, p11.CKA_NEVER_EXTRACTABLE,
		p11.CKA_SIGN, p11.CKA_DECRYPT)
	flag := func(t uint) bool { return len(a[t]) == 1 && a[t][0] != 0 }
	k := KeyInfo{
		Label: string(a[p11.CKA_LABEL]), ID: a[p11.CKA_ID], Type: "other",
		Sensitive: flag(p11.CKA_SENSITIVE), Extractable: flag(p11.CKA_EXTRACTABLE),
		AlwaysSensitive: flag(p11.CKA_ALWAYS_SENSITIVE), NeverExtractable: flag(p11.CKA_NEVER_EXTRACTABLE),
		Sign: flag(p11.CKA_SIGN), Decrypt: flag(p11.CKA_DECRYPT),
	}
	switch ulong(a[p11.CKA_KEY_TYPE]) {
	case p11.CKK_RSA:
		k.Type = "RSA"
		k.Bits = new(big.Int).SetBytes(a[p11.CKA_MODULUS]).BitLen()
	case p11.CKK_EC:
		k.Type = "EC"
		k.Bits = curveBits(a[p11.CKA_EC_PARAMS])
	}
	return k
}

// ulong decodes a CK_ULONG attribute, in the platform's byte order.
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

var curveOIDs = map[string]int{
	"1.2.840.10045.3.1.7": 256, // P-256
	"1.3.132.0.34":        384, // P-384
	"1.3.132.0.35":        521, // P-521
}

func curveBits(params []byte) int {
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(params, &oid); err != nil {
		return 0
	}
	return curveOIDs[oid.String()]
}
