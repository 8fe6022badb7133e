package keys

import (
	"bytes"
	"fmt"
)

// Magic numbers of the formats Sniff recognises.
var (
	magicJKS   = []byte{0xFE, 0xED, 0xFE, 0xED}
	magicJCEKS = []byte{0xCE, 0xCE, 0xCE, 0xCE}
)

// Sniff detects a keystore's format from its content, never from a file
// name. JKS starts with FE ED FE ED, PKCS#12 is a DER SEQUENCE whose first
// element is INTEGER 3, PEM has a "-----BEGIN" line, and a bare DER X.509
// certificate is a SEQUENCE whose first element is a SEQUENCE. JCEKS and
// anything else give ErrUnsupportedFormat.
func Sniff(data []byte) (Format, error) {
	switch {
	case len(data) == 0:
		return "", fmt.Errorf("sniff keystore: empty input: %w", ErrUnsupportedFormat)
	case bytes.HasPrefix(data, magicJKS):
		return FormatJKS, nil
	case bytes.HasPrefix(data, magicJCEKS):
		return "", fmt.Errorf("sniff keystore: JCEKS is not supported, convert it with keytool -importkeystore -deststoretype pkcs12: %w", ErrUnsupportedFormat)
	}
	if body, ok := derSequenceBody(data); ok {
		switch {
		case len(body) >= 3 && body[0] == 0x02 && body[1] == 0x01 && body[2] == 0x03:
			return FormatPKCS12, nil
		case len(body) >= 1 && body[0] == 0x30:
			return FormatDER, nil
		}
	}
	// PEM may follow text, as openssl x509 -text writes it.
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return FormatPEM, nil
	}
	return "", fmt.Errorf("sniff keystore: not JKS, PKCS#12, PEM or DER: %w", ErrUnsupportedFormat)
}

// derSequenceBody returns the content of the outer DER SEQUENCE that data
// starts with (possibly truncated to what data holds), and whether data
// starts with a well-formed SEQUENCE header.
func derSequenceBody(data []byte) ([]byte, bool) {
	if len(data) < 2 || data[0] != 0x30 {
		return nil, false
	}
	n := int(data[1])
	hdr := 2
	switch {
	case n < 0x80:
	case n == 0x80 || n > 0x84:
		return nil, false
	default:
		k := n & 0x7f
		if len(data) < 2+k {
			return nil, false
		}
		hdr = 2 + k
	}
	return data[hdr:], true
}
