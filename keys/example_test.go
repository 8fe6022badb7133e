package keys_test

import (
	"fmt"
	"log"
	"os"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// Example loads a keystore as keytool made it (a PKCS#12 inside a file
// named .jks), finds its only private-key entry and validates it.
func Example() {
	data, err := os.ReadFile("testdata/keytool-default.jks")
	if err != nil {
		log.Fatal(err)
	}
	ks, err := keys.Parse(data, secret.FromString("storepass1"), secret.Value{})
	if err != nil {
		log.Fatal(err)
	}
	e, err := ks.PrivateKeyEntry("")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ks.Format, e.Alias, len(e.Chain), e.Leaf().Subject.CommonName)
	fmt.Println(keys.Validate(ks, e.Leaf().NotBefore).Valid())
	// Output:
	// pkcs12 mykey 1 sp.example.com
	// true
}

// ExampleGenerate makes a base SAML keystore: RSA-2048, alias saml2sp,
// written as PKCS#12.
func ExampleGenerate() {
	e, err := keys.Generate(keys.GenerateOptions{Alias: "saml2sp", DName: "CN=sp.example.com,O=Example,C=US", ValidityDays: 730})
	if err != nil {
		log.Fatal(err)
	}
	ks := &keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{e}}
	data, err := ks.Marshal(secret.FromString("changeit"), secret.Value{})
	if err != nil {
		log.Fatal(err)
	}
	f, _ := keys.Sniff(data)
	fmt.Println(f, e.Leaf().Subject, e.Leaf().NotAfter.Sub(e.Leaf().NotBefore).Hours()/24)
	// Output: pkcs12 CN=sp.example.com,O=Example,C=US 730
}
