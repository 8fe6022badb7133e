package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
)

// parsePEM reads PEM blocks: at most one private key (PKCS#8 "PRIVATE
// KEY", PKCS#1 "RSA PRIVATE KEY" or SEC1 "EC PRIVATE KEY") and any number
// of certificates. The key becomes entry "1" with its chain ordered leaf
// first by issuer; other certificates become trusted entries "2", "3", ….
func parsePEM(data []byte) (*Keystore, error) {
	var certs []*x509.Certificate
	var keyDER []byte
	rest := data
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: certificate: %w", n, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if keyDER != nil {
				return nil, fmt.Errorf("PEM block %d: a second private key; a PEM keystore holds one", n)
			}
			if len(b.Headers) > 0 {
				return nil, fmt.Errorf("PEM block %d: encrypted legacy PEM key: decrypt it with openssl pkey first: %w", n, ErrUnsupportedFormat)
			}
			keyDER = b.Bytes
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("PEM block %d: encrypted PKCS#8 key: decrypt it with openssl pkey first or use PKCS#12: %w", n, ErrUnsupportedFormat)
		}
	}
	if keyDER == nil && len(certs) == 0 {
		return nil, errors.New("PEM: no certificate or private key block")
	}
	ks := &Keystore{Format: FormatPEM}
	if keyDER != nil {
		key, err := parsePrivateKeyDER(keyDER)
		if err != nil {
			return nil, fmt.Errorf("PEM: %w", err)
		}
		if len(certs) == 0 {
			return nil, errors.New("PEM: a private key without its certificate: append the certificate (and chain) to the file")
		}
		leaf := -1
		for i, c := range certs {
			if publicKeysEqual(c.PublicKey, key.Public()) {
				leaf = i
				break
			}
		}
		if leaf < 0 {
			return nil, errors.New("PEM: no certificate matches the private key: the key and certificate files may have been switched")
		}
		chain, rest := orderChain(certs[leaf], append(append([]*x509.Certificate(nil), certs[:leaf]...), certs[leaf+1:]...))
		ks.Entries = append(ks.Entries, &Entry{Alias: "1", Key: key, Chain: chain})
		certs = rest
	}
	for _, c := range certs {
		ks.Entries = append(ks.Entries, &Entry{Alias: strconv.Itoa(len(ks.Entries) + 1), Chain: []*x509.Certificate{c}})
	}
	return ks, nil
}

// parseDER reads one bare DER certificate as trusted entry "1".
func parseDER(data []byte) (*Keystore, error) {
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("DER certificate: %w", err)
	}
	return &Keystore{Format: FormatDER, Entries: []*Entry{{Alias: "1", Chain: []*x509.Certificate{c}}}}, nil
}

// orderChain builds a chain from leaf by following issuers through pool
// (signatures checked), returning the chain and the certificates unused.
func orderChain(leaf *x509.Certificate, pool []*x509.Certificate) (chain, rest []*x509.Certificate) {
	chain = []*x509.Certificate{leaf}
	used := make([]bool, len(pool))
	for {
		last := chain[len(chain)-1]
		if isSelfIssued(last) {
			break
		}
		next := -1
		for i, c := range pool {
			if !used[i] && last.CheckSignatureFrom(c) == nil {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		used[next] = true
		chain = append(chain, pool[next])
	}
	for i, c := range pool {
		if !used[i] {
			rest = append(rest, c)
		}
	}
	return chain, rest
}
