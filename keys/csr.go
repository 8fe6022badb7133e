package keys

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
)

// CSR returns a PEM CERTIFICATE REQUEST for the private-key entry e, with
// the subject of e's leaf certificate, signed by e.Key with SHA-256 (SHA-384
// for EC P-384), as keytool -certreq writes it.
func CSR(e *Entry, rand io.Reader) ([]byte, error) {
	if e == nil || !e.IsPrivateKey() {
		return nil, fmt.Errorf("certificate request: %w", ErrNoPrivateKey)
	}
	leaf := e.Leaf()
	if leaf == nil {
		return nil, fmt.Errorf("certificate request for alias %q: entry has no certificate", e.Alias)
	}
	tmpl := &x509.CertificateRequest{
		RawSubject:         leaf.RawSubject,
		SignatureAlgorithm: signatureAlgorithm(e.Key.Public()),
	}
	der, err := x509.CreateCertificateRequest(rand, tmpl, e.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate request for alias %q: %w", e.Alias, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// signatureAlgorithm picks SHA-256 or stronger for a public key.
func signatureAlgorithm(pub any) x509.SignatureAlgorithm {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return x509.SHA256WithRSA
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 384:
			return x509.ECDSAWithSHA384
		case 521:
			return x509.ECDSAWithSHA512
		}
		return x509.ECDSAWithSHA256
	}
	return x509.UnknownSignatureAlgorithm
}
