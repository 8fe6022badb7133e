package keys

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificates parses a PEM bundle of CERTIFICATE blocks (other blocks
// are ignored) or DER data (one or more concatenated certificates, as
// keytool -exportcert writes without -rfc).
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		var certs []*x509.Certificate
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" && b.Type != "X509 CERTIFICATE" && b.Type != "TRUSTED CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("parse certificates: PEM block %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		}
		if len(certs) == 0 {
			return nil, errors.New("parse certificates: no CERTIFICATE block in PEM data")
		}
		return certs, nil
	}
	if len(data) == 0 {
		return nil, errors.New("parse certificates: empty input")
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("parse certificates: not PEM and not DER: %w", err)
	}
	return certs, nil
}

// EncodePEM encodes certificates exactly as keytool -exportcert -rfc does,
// byte for byte: "-----BEGIN CERTIFICATE-----" and LF, base64 in 64-column
// lines separated by CR LF (Java's MIME encoder), then LF and
// "-----END CERTIFICATE-----" and LF.
func EncodePEM(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		buf.WriteString("-----BEGIN CERTIFICATE-----\n")
		s := base64.StdEncoding.EncodeToString(c.Raw)
		for len(s) > 64 {
			buf.WriteString(s[:64])
			buf.WriteString("\r\n")
			s = s[64:]
		}
		buf.WriteString(s)
		buf.WriteString("\n-----END CERTIFICATE-----\n")
	}
	return buf.Bytes()
}

// EncodeDER concatenates the certificates' DER encodings, as keytool
// -exportcert writes without -rfc.
func EncodeDER(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		buf.Write(c.Raw)
	}
	return buf.Bytes()
}

// FingerprintSHA256 returns the lowercase hex SHA-256 of the certificate's
// DER encoding.
func FingerprintSHA256(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
