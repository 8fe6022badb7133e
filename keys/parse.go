package keys

import (
	"fmt"
	"os"

	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/secret"
)

// MaxKeystoreSize caps the bytes Parse reads: real keystores are a few
// kilobytes; the cap keeps crafted files from exhausting memory.
const MaxKeystoreSize = 1 << 20

// Parse decodes a keystore from its bytes, sniffing the format from content.
// keyPass protects private keys; when it is empty storePass is used, as
// keytool does. PEM and DER input needs no password.
func Parse(data []byte, storePass, keyPass secret.Value) (*Keystore, error) {
	if len(data) > MaxKeystoreSize {
		return nil, fmt.Errorf("parse keystore: %d bytes is more than the %d a keystore may have", len(data), MaxKeystoreSize)
	}
	f, err := Sniff(data)
	if err != nil {
		return nil, err
	}
	if keyPass.Empty() {
		keyPass = storePass
	}
	switch f {
	case FormatJKS:
		return parseJKS(data, storePass, keyPass)
	case FormatPKCS12:
		return parsePKCS12(data, storePass, keyPass)
	case FormatPEM:
		return parsePEM(data)
	default:
		return parseDER(data)
	}
}

// ParseChains is Parse for listing and exporting, as keytool -list works:
// it needs only the store password, checks it, and returns every entry's
// certificates without decrypting private keys. JKS private-key entries come
// back Sealed with Key nil; other formats are parsed as Parse does with the
// store password for keys (PKCS#12 keys use it; PEM and DER have none).
func ParseChains(data []byte, storePass secret.Value) (*Keystore, error) {
	if len(data) > MaxKeystoreSize {
		return nil, fmt.Errorf("parse keystore: %d bytes is more than the %d a keystore may have", len(data), MaxKeystoreSize)
	}
	f, err := Sniff(data)
	if err != nil {
		return nil, err
	}
	if f == FormatJKS {
		return parseJKSChains(data, storePass)
	}
	return Parse(data, storePass, storePass)
}

// LoadFile reads and parses the keystore at path, naming path in errors.
func LoadFile(path string, storePass, keyPass secret.Value) (*Keystore, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load keystore %q: %w", path, err)
	}
	if fi.Size() > MaxKeystoreSize {
		return nil, fmt.Errorf("load keystore %q: %d bytes is more than the %d a keystore may have", path, fi.Size(), MaxKeystoreSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load keystore %q: %w", path, err)
	}
	ks, err := Parse(data, storePass, keyPass)
	if err != nil {
		return nil, fmt.Errorf("load keystore %q: %w", path, err)
	}
	return ks, nil
}

// Marshal encodes the keystore in ks.Format (JKS or PKCS#12). keyPass
// protects private keys; when empty storePass is used. PKCS#12 is written
// with PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) and an HMAC-SHA-256 MAC;
// JKS is refused in FIPS 140-3 mode (keys/fips).
func (ks *Keystore) Marshal(storePass, keyPass secret.Value) ([]byte, error) {
	for _, e := range ks.Entries {
		if e.Sealed {
			return nil, fmt.Errorf("marshal keystore: alias %q is sealed (read with ParseChains): read the keystore with Parse to write it", e.Alias)
		}
	}
	if keyPass.Empty() {
		keyPass = storePass
	}
	switch ks.Format {
	case FormatJKS:
		if err := fips.Algorithm("jks"); err != nil {
			return nil, fmt.Errorf("marshal keystore: %w", err)
		}
		return marshalJKS(ks, storePass, keyPass)
	case FormatPKCS12:
		return marshalPKCS12(ks, storePass, keyPass)
	default:
		return nil, fmt.Errorf("marshal keystore: format %q cannot be written, use jks or pkcs12: %w", ks.Format, ErrUnsupportedFormat)
	}
}
