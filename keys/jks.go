package keys

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/samlkeyd/samlkeyd/secret"
)

const (
	jksTagPrivateKey = 1
	jksTagTrusted    = 2
	jksDigestLen     = sha1.Size
	// jksMinKeyBlob is the least an encrypted key may hold: keystore-go
	// slices a 20-byte salt and a 20-byte check off it and panics on less.
	jksMinKeyBlob = 2*sha1.Size + 1
)

// jksHeader is what scanJKS learns from a JKS file without trusting it:
// entry aliases and kinds in file order.
type jksHeader struct {
	aliases []string
	private []bool
	created []time.Time // each entry's creation time, as keytool -list shows it
	body    int         // bytes before the digest
}

// scanJKS walks a JKS file's structure checking every count and length
// against the bytes that remain, so that keystore-go never allocates from
// a crafted length, and every encrypted key blob is long enough that
// keystore-go cannot panic on it.
func scanJKS(data []byte) (*jksHeader, error) {
	r := jksReader{b: data}
	if m := r.u32(); m != 0xFEEDFEED {
		return nil, errors.New("not a JKS file: bad magic")
	}
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return nil, fmt.Errorf("JKS version %d is not 1 or 2", version)
	}
	count := r.u32()
	// An entry needs at least a tag, an alias length, a timestamp and a
	// certificate length: 18 bytes.
	if r.err == nil && uint64(count)*18 > uint64(r.left()) {
		return nil, fmt.Errorf("corrupt JKS: header says %d entries, but only %d bytes follow", count, r.left())
	}
	h := &jksHeader{}
	for i := uint32(0); i < count && r.err == nil; i++ {
		tag := r.u32()
		alias := r.str()
		ms := int64(r.u32())<<32 | int64(r.u32()) // creation time, milliseconds since 1970
		h.created = append(h.created, time.UnixMilli(ms).UTC())
		switch {
		case r.err != nil:
		case tag == jksTagPrivateKey:
			blob := r.bytes(r.u32())
			if r.err == nil {
				if err := checkJKSKeyBlob(blob); err != nil {
					return nil, fmt.Errorf("corrupt JKS: entry %q: %w", alias, err)
				}
			}
			n := r.u32()
			if r.err == nil && uint64(n)*4 > uint64(r.left()) {
				return nil, fmt.Errorf("corrupt JKS: entry %q says %d certificates, but only %d bytes follow", alias, n, r.left())
			}
			for j := uint32(0); j < n && r.err == nil; j++ {
				r.cert(version)
			}
			h.aliases, h.private = append(h.aliases, alias), append(h.private, true)
		case tag == jksTagTrusted:
			r.cert(version)
			h.aliases, h.private = append(h.aliases, alias), append(h.private, false)
		default:
			return nil, fmt.Errorf("corrupt JKS: entry %d has unknown tag %d", i, tag)
		}
	}
	if r.err != nil {
		return nil, damaged("JKS", fmt.Errorf("corrupt JKS: %w", r.err))
	}
	if r.left() != jksDigestLen {
		return nil, damaged("JKS", fmt.Errorf("corrupt JKS: %d bytes after the entries, want the %d-byte digest", r.left(), jksDigestLen))
	}
	h.body = r.off
	return h, nil
}

// checkJKSKeyBlob checks that an encrypted key is the DER structure
// keystore-go decodes and that its ciphertext is long enough.
func checkJKSKeyBlob(blob []byte) error {
	var info struct {
		Algo       asn1.RawValue
		PrivateKey []byte
	}
	rest, err := asn1.Unmarshal(blob, &info)
	if err != nil || len(rest) != 0 {
		return errors.New("encrypted private key is not DER")
	}
	if len(info.PrivateKey) < jksMinKeyBlob {
		return fmt.Errorf("encrypted private key is %d bytes, too short", len(info.PrivateKey))
	}
	return nil
}

// jksReader reads big-endian fields, remembering the first error.
type jksReader struct {
	b   []byte
	off int
	err error
}

func (r *jksReader) left() int { return len(r.b) - r.off }

func (r *jksReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(r.left()) {
		r.err = fmt.Errorf("truncated at byte %d: need %d more bytes, have %d", r.off, n, r.left())
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *jksReader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *jksReader) bytes(n uint32) []byte { return r.take(uint64(n)) }

func (r *jksReader) str() string {
	b := r.take(2)
	if b == nil {
		return ""
	}
	return string(r.take(uint64(binary.BigEndian.Uint16(b))))
}

func (r *jksReader) cert(version uint32) {
	if version == 2 {
		r.str() // certificate type, "X.509"
	}
	r.take(uint64(r.u32()))
}

// jksDigestOK reports whether the keyed SHA-1 at the end of a JKS file
// verifies with password (in keystore-go's form, see jksPassword).
func jksDigestOK(data []byte, body int, password []byte) bool {
	pw := make([]byte, 0, 2*len(password))
	for _, c := range password {
		pw = append(pw, 0, c) // Java's UTF-16 big-endian for a Latin-1 char
	}
	defer clear(pw)
	h := sha1.New()
	h.Write(pw)
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(data[:body])
	return bytes.Equal(h.Sum(nil), data[body:body+jksDigestLen])
}

// jksPassword converts a UTF-8 password to the one-byte-per-character form
// keystore-go expects (it widens each byte to a UTF-16 unit, as Java does
// for each char). Characters beyond Latin-1 cannot be expressed that way.
func jksPassword(password []byte, which string) ([]byte, error) {
	out := make([]byte, 0, len(password))
	for p := password; len(p) > 0; {
		r, n := utf8.DecodeRune(p)
		p = p[n:]
		if r > 0xFF || (r == utf8.RuneError && n == 1) {
			clear(out)
			return nil, fmt.Errorf("JKS %s password has characters beyond Latin-1, which samlkeyd cannot use with JKS: convert the keystore to PKCS#12", which)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

func parseJKS(data []byte, storePass, keyPass secret.Value) (*Keystore, error) {
	return readJKS(data, storePass, keyPass, false)
}

func parseJKSChains(data []byte, storePass secret.Value) (*Keystore, error) {
	return readJKS(data, storePass, secret.Value{}, true)
}

// readJKS reads a JKS file; sealed leaves private keys encrypted.
func readJKS(data []byte, storePass, keyPass secret.Value, sealed bool) (*Keystore, error) {
	h, err := scanJKS(data)
	if err != nil {
		return nil, err
	}
	storePw, err := jksPassword(storePass.Reveal(), "store")
	if err != nil {
		return nil, err
	}
	defer clear(storePw)
	if !jksDigestOK(data, h.body, storePw) {
		return nil, fmt.Errorf("JKS integrity check failed: %w (or the file was altered)", ErrWrongStorePassword)
	}
	ks := keystore.New(keystore.WithCaseExactAliases())
	if err := ks.Load(bytes.NewReader(data), storePw); err != nil {
		return nil, fmt.Errorf("read JKS: %w", err)
	}
	out := &Keystore{Format: FormatJKS}
	for i, alias := range h.aliases {
		var e *Entry
		if sealed && h.private[i] {
			e, err = jksSealedEntry(ks, alias, h.created[i])
		} else {
			e, err = jksEntry(ks, alias, h.private[i], keyPass, keyPass.Equal(storePass))
		}
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

// jksSealedEntry returns a private-key entry's chain without its key.
func jksSealedEntry(ks keystore.KeyStore, alias string, created time.Time) (*Entry, error) {
	chain, err := ks.GetPrivateKeyEntryCertificateChain(alias)
	if err != nil {
		return nil, fmt.Errorf("JKS alias %q: %w", alias, err)
	}
	e := &Entry{Alias: alias, Sealed: true, Created: created}
	for j, c := range chain {
		cert, err := x509.ParseCertificate(c.Content)
		if err != nil {
			return nil, fmt.Errorf("JKS alias %q: certificate %d: %w", alias, j+1, err)
		}
		e.Chain = append(e.Chain, cert)
	}
	if len(e.Chain) == 0 {
		return nil, fmt.Errorf("JKS alias %q: private-key entry without a certificate", alias)
	}
	return e, nil
}

// jksEntry reads one entry; keyIsStore says the key password tried is the
// store password (none was given, or the same), for the error.
func jksEntry(ks keystore.KeyStore, alias string, private bool, keyPass secret.Value, keyIsStore bool) (*Entry, error) {
	if !private {
		t, err := ks.GetTrustedCertificateEntry(alias)
		if err != nil {
			return nil, fmt.Errorf("JKS alias %q: %w", alias, err)
		}
		c, err := x509.ParseCertificate(t.Certificate.Content)
		if err != nil {
			return nil, fmt.Errorf("JKS alias %q: certificate: %w", alias, err)
		}
		return &Entry{Alias: alias, Created: t.CreationTime.UTC(), Chain: []*x509.Certificate{c}}, nil
	}
	kp, err := jksPassword(keyPass.Reveal(), "key")
	if err != nil {
		return nil, err
	}
	defer clear(kp)
	p, err := ks.GetPrivateKeyEntry(alias, kp)
	if err != nil {
		if strings.Contains(err.Error(), "digest") {
			if keyIsStore {
				return nil, fmt.Errorf("JKS alias %q: %w: the key has a password of its own, not the store password: give the key password", alias, ErrWrongKeyPassword)
			}
			return nil, fmt.Errorf("JKS alias %q: %w: the key password given does not open this key", alias, ErrWrongKeyPassword)
		}
		return nil, fmt.Errorf("JKS alias %q: %w", alias, err)
	}
	defer clear(p.PrivateKey)
	key, err := parsePrivateKeyDER(p.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("JKS alias %q: %w", alias, err)
	}
	e := &Entry{Alias: alias, Created: p.CreationTime.UTC(), Key: key}
	for j, c := range p.CertificateChain {
		cert, err := x509.ParseCertificate(c.Content)
		if err != nil {
			return nil, fmt.Errorf("JKS alias %q: certificate %d: %w", alias, j+1, err)
		}
		e.Chain = append(e.Chain, cert)
	}
	if len(e.Chain) == 0 {
		return nil, fmt.Errorf("JKS alias %q: private-key entry without a certificate", alias)
	}
	return e, nil
}

func marshalJKS(ks *Keystore, storePass, keyPass secret.Value) ([]byte, error) {
	out := keystore.New(keystore.WithCaseExactAliases(), keystore.WithOrderedAliases())
	kp, err := jksPassword(keyPass.Reveal(), "key")
	if err != nil {
		return nil, err
	}
	defer clear(kp)
	seen := map[string]bool{}
	for _, e := range ks.Entries {
		// keytool stores JKS aliases lower-cased and looks them up so.
		alias := strings.ToLower(e.Alias)
		if seen[alias] {
			return nil, fmt.Errorf("write JKS: alias %q appears twice (JKS aliases are case-insensitive)", alias)
		}
		seen[alias] = true
		created := e.Created
		if created.IsZero() {
			created = time.Unix(0, 0)
		}
		if !e.IsPrivateKey() {
			if len(e.Chain) != 1 {
				return nil, fmt.Errorf("write JKS alias %q: trusted entry needs exactly one certificate", alias)
			}
			err := out.SetTrustedCertificateEntry(alias, keystore.TrustedCertificateEntry{
				CreationTime: created,
				Certificate:  keystore.Certificate{Type: "X.509", Content: e.Chain[0].Raw},
			})
			if err != nil {
				return nil, fmt.Errorf("write JKS alias %q: %w", alias, err)
			}
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(e.Key)
		if err != nil {
			return nil, fmt.Errorf("write JKS alias %q: %w", alias, err)
		}
		pe := keystore.PrivateKeyEntry{CreationTime: created, PrivateKey: der}
		for _, c := range e.Chain {
			pe.CertificateChain = append(pe.CertificateChain, keystore.Certificate{Type: "X.509", Content: c.Raw})
		}
		err = out.SetPrivateKeyEntry(alias, pe, kp)
		clear(der)
		if err != nil {
			return nil, fmt.Errorf("write JKS alias %q: %w", alias, err)
		}
	}
	sp, err := jksPassword(storePass.Reveal(), "store")
	if err != nil {
		return nil, err
	}
	defer clear(sp)
	var buf bytes.Buffer
	if err := out.Store(&buf, sp); err != nil {
		return nil, fmt.Errorf("write JKS: %w", err)
	}
	return buf.Bytes(), nil
}

// parsePrivateKeyDER parses PKCS#8, PKCS#1 or SEC1 DER into a signer.
func parsePrivateKeyDER(der []byte) (crypto.Signer, error) {
	var k any
	var err error
	if k, err = x509.ParsePKCS8PrivateKey(der); err != nil {
		if k2, err2 := x509.ParsePKCS1PrivateKey(der); err2 == nil {
			k, err = k2, nil
		} else if k3, err3 := x509.ParseECPrivateKey(der); err3 == nil {
			k, err = k3, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}
