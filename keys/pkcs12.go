package keys

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/keys/internal/pkcs12"
	"github.com/samlkeyd/samlkeyd/secret"
)

// pkcs12Iterations is the KDF iteration count written, keytool's default.
const pkcs12Iterations = 10000

func parsePKCS12(data []byte, storePass, keyPass secret.Value) (*Keystore, error) {
	bags, err := pkcs12.DecodeEntries(data, storePass.Reveal(), keyPass.Reveal())
	var budget *pkcs12.KDFBudgetError
	switch {
	case errors.As(err, &budget):
		return nil, fmt.Errorf("read PKCS#12: %w; if the file is genuine, export it again with keytool's or openssl's default iteration counts", err)
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return nil, fmt.Errorf("PKCS#12 MAC check failed: %w (or the file was altered)", ErrWrongStorePassword)
	case errors.Is(err, pkcs12.ErrKeyPassword):
		return nil, fmt.Errorf("PKCS#12: %w: the private key does not decrypt (keytool uses the store password for both)", ErrWrongKeyPassword)
	case isASN1Error(err):
		return nil, damaged("PKCS#12", err)
	case err != nil:
		return nil, fmt.Errorf("read PKCS#12: %w", err)
	}
	ks := &Keystore{Format: FormatPKCS12}
	var certs []pkcs12.Bag
	var keys []pkcs12.Bag
	for _, b := range bags {
		if b.Key != nil {
			keys = append(keys, b)
		} else {
			certs = append(certs, b)
		}
	}
	used := make([]bool, len(certs))
	for i, kb := range keys {
		signer, ok := kb.Key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("read PKCS#12: private key of type %T cannot sign", kb.Key)
		}
		// The leaf is the certificate with the key's local key id, else the
		// one whose public key is the key's: never simply the first one.
		leaf := -1
		for j, cb := range certs {
			if !used[j] && len(kb.LocalKeyID) > 0 && bytes.Equal(cb.LocalKeyID, kb.LocalKeyID) {
				leaf = j
				break
			}
		}
		if leaf < 0 {
			for j, cb := range certs {
				if !used[j] && publicKeysEqual(cb.Cert.PublicKey, signer.Public()) {
					leaf = j
					break
				}
			}
		}
		if leaf < 0 {
			return nil, fmt.Errorf("read PKCS#12: no certificate matches private key %d", i+1)
		}
		if !publicKeysEqual(certs[leaf].Cert.PublicKey, signer.Public()) {
			return nil, fmt.Errorf("read PKCS#12: the certificate linked to private key %d has another public key", i+1)
		}
		used[leaf] = true
		alias := kb.FriendlyName
		if alias == "" {
			alias = certs[leaf].FriendlyName
		}
		if alias == "" {
			alias = fmt.Sprint(i + 1) // what keytool shows for an unnamed key
		}
		e := &Entry{Alias: alias, Key: signer, Chain: []*x509.Certificate{certs[leaf].Cert}, Created: keytoolTime(kb.LocalKeyID)}
		// Follow issuers through the certificates that are not trusted
		// entries, as keytool does when it reads an openssl file.
		for {
			last := e.Chain[len(e.Chain)-1]
			if isSelfIssued(last) {
				break
			}
			next := -1
			for j, cb := range certs {
				if !used[j] && !cb.Trusted && last.CheckSignatureFrom(cb.Cert) == nil {
					next = j
					break
				}
			}
			if next < 0 {
				break
			}
			used[next] = true
			e.Chain = append(e.Chain, certs[next].Cert)
		}
		ks.Entries = append(ks.Entries, e)
	}
	for j, cb := range certs {
		if used[j] {
			continue
		}
		alias := cb.FriendlyName
		if alias == "" {
			alias = fmt.Sprint(len(ks.Entries) + 1)
		}
		ks.Entries = append(ks.Entries, &Entry{Alias: alias, Chain: []*x509.Certificate{cb.Cert}})
	}
	return ks, nil
}

func marshalPKCS12(ks *Keystore, storePass, keyPass secret.Value) ([]byte, error) {
	if err := FormatPKCS12.CheckKeyPassword(storePass, keyPass); err != nil {
		return nil, fmt.Errorf("write PKCS#12: %w: give no key password, or write JKS", err)
	}
	var keys []pkcs12.KeyEntry
	var trusted []pkcs12.TrustStoreEntry
	seen := map[string]bool{}
	for _, e := range ks.Entries {
		if seen[e.Alias] {
			return nil, fmt.Errorf("write PKCS#12: alias %q appears twice", e.Alias)
		}
		seen[e.Alias] = true
		if e.IsPrivateKey() {
			keys = append(keys, pkcs12.KeyEntry{Alias: e.Alias, Key: e.Key, Chain: e.Chain})
			continue
		}
		if len(e.Chain) != 1 {
			return nil, fmt.Errorf("write PKCS#12 alias %q: trusted entry needs exactly one certificate", e.Alias)
		}
		trusted = append(trusted, pkcs12.TrustStoreEntry{Cert: e.Chain[0], FriendlyName: e.Alias})
	}
	enc := pkcs12.Modern2023.WithIterations(pkcs12Iterations).WithRand(rand.Reader)
	out, err := enc.EncodeEntries(keys, trusted, storePass.Reveal(), keyPass.Reveal())
	if err != nil {
		return nil, fmt.Errorf("write PKCS#12: %w", err)
	}
	return out, nil
}

// isASN1Error reports whether err is a DER decoding error: the file's
// structure, not a password, is wrong.
func isASN1Error(err error) bool {
	var syn asn1.SyntaxError
	var st asn1.StructuralError
	return errors.As(err, &syn) || errors.As(err, &st)
}

// keytoolTime reads the creation time keytool writes into a key's local
// key id ("Time 1763800000000", milliseconds since 1970) and shows in
// keytool -list; zero for any other id (openssl writes a digest).
func keytoolTime(localKeyID []byte) time.Time {
	ms, ok := strings.CutPrefix(string(localKeyID), "Time ")
	if !ok {
		return time.Time{}
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// publicKeysEqual compares two public keys.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	ak, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ak.Equal(b)
}

// isSelfIssued reports whether c's issuer is its subject.
func isSelfIssued(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject)
}
