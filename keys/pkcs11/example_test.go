package pkcs11_test

import (
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
)

// A record's URI names the token and the key; the PIN travels apart.
func ExampleParseURI() {
	u, err := pkcs11.ParseURI("pkcs11:token=samlkeyd;object=signing-2027;id=%01%02")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Token, u.Object, u.ID)
	fmt.Println(u)

	_, err = pkcs11.ParseURI("pkcs11:token=samlkeyd;object=signing-2027?pin-value=1234")
	fmt.Println(err)
	// Output:
	// samlkeyd signing-2027 [1 2]
	// pkcs11:token=samlkeyd;object=signing-2027;id=%01%02
	// parse PKCS#11 URI: query attribute pin-value: give the PIN with --pin-file instead (samlkeyd seals it): PIN in PKCS#11 URI
}
