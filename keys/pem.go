package keys

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseCertificates parses certificates as CAs send them: a PEM bundle of
// CERTIFICATE blocks (other blocks are ignored), a PEM "PKCS7" block, DER
// (one or more concatenated certificates, as keytool -exportcert writes
// without -rfc), or a DER PKCS#7 (.p7b) certificate bundle.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, errors.New("parse certificates: empty input")
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		var certs []*x509.Certificate
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("parse certificates: PEM block %d: %w", len(certs)+1, err)
				}
				certs = append(certs, c)
			case "PKCS7", "CERTIFICATE CHAIN":
				p7, err := parsePKCS7Certificates(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("parse certificates: PEM %s block: %w", b.Type, err)
				}
				certs = append(certs, p7...)
			}
		}
		if len(certs) == 0 {
			return nil, errors.New("parse certificates: no CERTIFICATE or PKCS7 block in PEM data")
		}
		return certs, nil
	}
	if certs, err := parsePKCS7Certificates(data); err == nil {
		return certs, nil
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("parse certificates: not PEM, PKCS#7 or DER certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("parse certificates: no certificate in the input")
	}
	return certs, nil
}

// oidSignedData is PKCS#7 signedData (RFC 2315 / RFC 5652).
var oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

// parsePKCS7Certificates returns the certificates of a DER PKCS#7
// SignedData, the ".p7b" bundle many CAs answer a CSR with.
func parsePKCS7Certificates(der []byte) ([]*x509.Certificate, error) {
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(der, &ci); err != nil || len(rest) != 0 {
		return nil, errors.New("not a PKCS#7 ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("PKCS#7 content type %v is not signedData", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue
		ContentInfo      asn1.RawValue
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		CRLs             asn1.RawValue `asn1:"optional,tag:1"`
		SignerInfos      asn1.RawValue
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return nil, fmt.Errorf("PKCS#7 signedData: %w", err)
	}
	if len(sd.Certificates.Bytes) == 0 {
		return nil, errors.New("PKCS#7 signedData holds no certificate")
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PKCS#7 certificates: %w", err)
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
// DER encoding: SHA256Fingerprint(c).Hex(), the form records keep.
func FingerprintSHA256(c *x509.Certificate) string {
	return SHA256Fingerprint(c).Hex()
}
