package openssl_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys/openssl"
)

// The key is imported once; the result signs and decrypts with whichever
// backend the binary was built with.
func ExampleNewRSA() {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	sd, err := openssl.NewRSA(k)
	if err != nil {
		fmt.Println(err)
		return
	}
	d := sha256.Sum256([]byte("data"))
	sig, _ := sd.Sign(rand.Reader, d[:], crypto.SHA256)
	fmt.Println(rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, d[:], sig) == nil)
	// Output: true
}
