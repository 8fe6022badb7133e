package keys

import (
	"strings"
	"testing"
)

func TestParseCertificates(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		want    int
		wantErr string
	}{
		{"PEM bundle", readFixture(t, "chain.pem"), 3, ""},
		{"PEM with key and certificates", readFixture(t, "leaf-pkcs8.pem"), 2, ""},
		{"DER", readFixture(t, "root.der"), 1, ""},
		{"PKCS#7 DER (.p7b)", readFixture(t, "reply.p7b"), 3, ""},
		{"PKCS#7 PEM", readFixture(t, "reply.p7b.pem"), 3, ""},
		{"empty", nil, 0, "empty"},
		{"garbage", []byte("garbage"), 0, "not PEM, PKCS#7 or DER"},
		{"PEM without certificates", readFixture(t, "leaf-key.pem"), 0, "no CERTIFICATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := ParseCertificates(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(certs) != tt.want {
				t.Fatalf("got %d certificates, %v; want %d", len(certs), err, tt.want)
			}
		})
	}
}
