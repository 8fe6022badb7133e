// Copyright 2026 the samlkeyd authors. Use of this source code is governed
// by the BSD-style license in the LICENSE file.

package pkcs12

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxIterations caps the KDF iteration counts a file may ask for: keytool
// writes 10000 and openssl 2048, while a crafted file with 2^31 iterations
// would keep a CPU busy for many seconds before the password is checked.
const MaxIterations = 1 << 20

// ErrKeyPassword is returned when the MAC verified with the store password
// but a private key does not decrypt with the key password.
var ErrKeyPassword = errors.New("pkcs12: private key does not decrypt with the key password")

func checkIterations(n int) error {
	if n < 1 || n > MaxIterations {
		return NotImplementedError(fmt.Sprintf("KDF iteration count %d is outside 1..%d", n, MaxIterations))
	}
	return nil
}

// Bag is one decoded safe bag: a certificate or a private key with the
// attributes keytool and openssl use to name and link them.
type Bag struct {
	FriendlyName string            // the keytool alias, "" when absent
	LocalKeyID   []byte            // links a key to its certificate
	Trusted      bool              // Java's trusted-certificate attribute is present
	Cert         *x509.Certificate // set for certificate bags
	Key          any               // set for key bags: *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey
}

// DecodeEntries decodes every certificate and key bag of pfxData in file
// order. The MAC and encrypted safe contents use storePassword, shrouded key
// bags keyPassword. A wrong store password gives ErrIncorrectPassword, a key
// that does not decrypt ErrKeyPassword.
// The passwords are UTF-8 bytes; the caller keeps and zeroes them, and the
// UCS-2 copies made here are zeroed before returning.
func DecodeEntries(pfxData []byte, storePassword, keyPassword []byte) ([]Bag, error) {
	return newKDFBudget().decodeEntries(pfxData, storePassword, keyPassword)
}

// decodeEntries is DecodeEntries spending at most b's KDF budget.
func (b *kdfBudget) decodeEntries(pfxData []byte, storePassword, keyPassword []byte) ([]Bag, error) {
	encStore, err := bmpPassword(storePassword)
	if err != nil {
		return nil, err
	}
	defer clear(encStore)
	encKey, err := bmpPassword(keyPassword)
	if err != nil {
		return nil, err
	}
	defer clear(encKey)
	bags, used, err := b.getSafeContents(pfxData, encStore, 1, 64)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(storePassword, keyPassword) {
		encKey = used // the empty-password fallback may have switched it
	}
	var out []Bag
	for _, bag := range bags {
		var e Bag
		for _, a := range bag.Attributes {
			switch {
			case a.Id.Equal(oidFriendlyName):
				var raw asn1.RawValue
				if err := unmarshal(a.Value.Bytes, &raw); err != nil {
					return nil, fmt.Errorf("pkcs12: friendly name: %w", err)
				}
				if e.FriendlyName, err = decodeBMPString(raw.Bytes); err != nil {
					return nil, fmt.Errorf("pkcs12: friendly name: %w", err)
				}
			case a.Id.Equal(oidLocalKeyID):
				var id []byte
				if err := unmarshal(a.Value.Bytes, &id); err != nil {
					return nil, fmt.Errorf("pkcs12: local key id: %w", err)
				}
				e.LocalKeyID = id
			case a.Id.Equal(oidJavaTrustStore):
				e.Trusted = true
			}
		}
		switch {
		case bag.Id.Equal(oidCertBag):
			der, err := decodeCertBag(bag.Value.Bytes)
			if err != nil {
				return nil, err
			}
			if e.Cert, err = x509.ParseCertificate(der); err != nil {
				return nil, fmt.Errorf("pkcs12: certificate: %w", err)
			}
		case bag.Id.Equal(oidKeyBag):
			if e.Key, err = x509.ParsePKCS8PrivateKey(bag.Value.Bytes); err != nil {
				return nil, fmt.Errorf("pkcs12: private key: %w", err)
			}
		case bag.Id.Equal(oidPKCS8ShroundedKeyBag):
			if e.Key, err = b.decodePkcs8ShroudedKeyBag(bag.Value.Bytes, encKey); err != nil {
				var ni NotImplementedError
				var be *KDFBudgetError
				if errors.As(err, &ni) || errors.As(err, &be) {
					return nil, err
				}
				return nil, ErrKeyPassword
			}
		default:
			continue // CRL, secret and nested bags carry nothing samlkeyd uses
		}
		out = append(out, e)
	}
	return out, nil
}

// KeyEntry is a private key with its chain (leaf first) under an alias.
type KeyEntry struct {
	Alias string
	Key   any
	Chain []*x509.Certificate
}

// EncodeEntries writes key entries and trusted certificates as keytool
// does: one encrypted SafeContents (store password) with every certificate,
// the leaf certificates and trusted ones carrying their alias as friendly
// name, trusted ones also Java's trust attribute; and one SafeContents with
// the keys shrouded with the key password, linked to their leaf by local
// key id.
func (enc *Encoder) EncodeEntries(keys []KeyEntry, trusted []TrustStoreEntry, storePassword, keyPassword []byte) ([]byte, error) {
	encStore, err := bmpPassword(storePassword)
	if err != nil {
		return nil, err
	}
	defer clear(encStore)
	encKey, err := bmpPassword(keyPassword)
	if err != nil {
		return nil, err
	}
	defer clear(encKey)

	var certBags, keyBags []safeBag
	for _, k := range keys {
		if len(k.Chain) == 0 {
			return nil, fmt.Errorf("pkcs12: key entry %q has no certificate", k.Alias)
		}
		fp := sha1.Sum(k.Chain[0].Raw)
		idAttr, err := localKeyIDAttribute(fp[:])
		if err != nil {
			return nil, err
		}
		nameAttr, err := friendlyNameAttribute(k.Alias)
		if err != nil {
			return nil, err
		}
		for i, c := range k.Chain {
			attrs := []pkcs12Attribute{}
			if i == 0 {
				attrs = []pkcs12Attribute{nameAttr, idAttr}
			}
			bag, err := makeCertBag(c.Raw, attrs)
			if err != nil {
				return nil, err
			}
			certBags = append(certBags, *bag)
		}
		var keyBag safeBag
		keyBag.Id = oidPKCS8ShroundedKeyBag
		keyBag.Value.Class = 2
		keyBag.Value.Tag = 0
		keyBag.Value.IsCompound = true
		if keyBag.Value.Bytes, err = encodePkcs8ShroudedKeyBag(enc.rand, k.Key, enc.keyAlgorithm, encKey, enc.encryptionIterations, enc.saltLen); err != nil {
			return nil, err
		}
		keyBag.Attributes = []pkcs12Attribute{nameAttr, idAttr}
		keyBags = append(keyBags, keyBag)
	}
	ekuBytes, err := asn1.Marshal(oidAnyExtendedKeyUsage)
	if err != nil {
		return nil, err
	}
	trustAttr := pkcs12Attribute{Id: oidJavaTrustStore, Value: asn1.RawValue{Tag: 17, IsCompound: true, Bytes: ekuBytes}}
	for _, t := range trusted {
		nameAttr, err := friendlyNameAttribute(t.FriendlyName)
		if err != nil {
			return nil, err
		}
		bag, err := makeCertBag(t.Cert.Raw, []pkcs12Attribute{nameAttr, trustAttr})
		if err != nil {
			return nil, err
		}
		certBags = append(certBags, *bag)
	}

	var safes []contentInfo
	if len(certBags) > 0 {
		ci, err := makeSafeContents(enc.rand, certBags, enc.certAlgorithm, encStore, enc.encryptionIterations, enc.saltLen)
		if err != nil {
			return nil, err
		}
		safes = append(safes, ci)
	}
	if len(keyBags) > 0 {
		ci, err := makeSafeContents(enc.rand, keyBags, nil, nil, 0, 0)
		if err != nil {
			return nil, err
		}
		safes = append(safes, ci)
	}
	authSafe, err := asn1.Marshal(safes)
	if err != nil {
		return nil, err
	}
	var pfx pfxPdu
	pfx.Version = 3
	macSalt := make([]byte, enc.saltLen)
	if _, err := enc.rand.Read(macSalt); err != nil {
		return nil, err
	}
	pfx.MacData.Mac.Algorithm.Algorithm = enc.macAlgorithm
	pfx.MacData.MacSalt = macSalt
	pfx.MacData.Iterations = enc.macIterations
	if err := computeMac(&pfx.MacData, authSafe, encStore); err != nil {
		return nil, err
	}
	pfx.AuthSafe.ContentType = oidDataContentType
	pfx.AuthSafe.Content.Class = 2
	pfx.AuthSafe.Content.Tag = 0
	pfx.AuthSafe.Content.IsCompound = true
	if pfx.AuthSafe.Content.Bytes, err = asn1.Marshal(authSafe); err != nil {
		return nil, err
	}
	return asn1.Marshal(pfx)
}

func localKeyIDAttribute(id []byte) (pkcs12Attribute, error) {
	b, err := asn1.Marshal(id)
	if err != nil {
		return pkcs12Attribute{}, err
	}
	return pkcs12Attribute{Id: oidLocalKeyID, Value: asn1.RawValue{Tag: 17, IsCompound: true, Bytes: b}}, nil
}

func friendlyNameAttribute(name string) (pkcs12Attribute, error) {
	bmp, err := bmpString(name)
	if err != nil {
		return pkcs12Attribute{}, err
	}
	b, err := asn1.Marshal(asn1.RawValue{Tag: 30, Bytes: bmp})
	if err != nil {
		return pkcs12Attribute{}, err
	}
	return pkcs12Attribute{Id: oidFriendlyName, Value: asn1.RawValue{Tag: 17, IsCompound: true, Bytes: b}}, nil
}

// bmpPassword encodes a UTF-8 password as zero-terminated UCS-2 without
// making string copies that could not be zeroed.
func bmpPassword(pw []byte) ([]byte, error) {
	out := make([]byte, 0, 2*len(pw)+2)
	for len(pw) > 0 {
		r, n := utf8.DecodeRune(pw)
		if r == utf8.RuneError && n == 1 {
			clear(out)
			return nil, errors.New("pkcs12: password is not UTF-8")
		}
		if t, _ := utf16.EncodeRune(r); t != 0xfffd {
			clear(out)
			return nil, errors.New("pkcs12: password contains characters that cannot be encoded in UCS-2")
		}
		out = append(out, byte(r>>8), byte(r))
		pw = pw[n:]
	}
	return append(out, 0, 0), nil
}
