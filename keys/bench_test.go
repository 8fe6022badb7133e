package keys

import (
	"testing"

	"github.com/samlkeyd/samlkeyd/secret"
)

// BenchmarkLoad measures Parse of a keytool JKS and PKCS#12 (2048-bit RSA
// key) and an openssl PEM, the baseline: PEM has no password KDF.
func BenchmarkLoad(b *testing.B) {
	for _, bm := range []struct{ name, file, keyPass string }{
		{"PEM", "leaf-pkcs8.pem", ""},
		{"JKS", "keytool.jks", testKeyPass},
		{"PKCS12", "keytool-default.jks", ""},
		{"PKCS12-openssl", "openssl.p12", ""},
	} {
		data := readFixture(b, bm.file)
		sp, kp := secret.FromString(testStorePass), secret.FromString(bm.keyPass)
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(data, sp, kp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
