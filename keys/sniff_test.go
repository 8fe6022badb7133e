package keys

import (
	"errors"
	"testing"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want Format
		err  error
	}{
		{"keytool JKS", readFixture(t, "keytool.jks"), FormatJKS, nil},
		{"keytool PKCS#12 named .jks", readFixture(t, "keytool-default.jks"), FormatPKCS12, nil},
		{"openssl PKCS#12", readFixture(t, "openssl.p12"), FormatPKCS12, nil},
		{"PEM", readFixture(t, "leaf-pkcs8.pem"), FormatPEM, nil},
		{"PEM after text", append([]byte("Certificate:\n    Data: ...\n"), readFixture(t, "root.pem")...), FormatPEM, nil},
		{"DER certificate", readFixture(t, "root.der"), FormatDER, nil},
		{"JCEKS", readFixture(t, "keytool.jceks"), "", ErrUnsupportedFormat},
		{"garbage", []byte("not a keystore"), "", ErrUnsupportedFormat},
		{"empty", nil, "", ErrUnsupportedFormat},
		{"DER SEQUENCE of something else", []byte{0x30, 0x03, 0x02, 0x01, 0x05}, "", ErrUnsupportedFormat},
		{"bad DER length", []byte{0x30, 0x89, 0x00}, "", ErrUnsupportedFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Sniff(tt.data)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Sniff = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
