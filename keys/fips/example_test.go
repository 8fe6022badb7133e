package fips_test

import (
	"errors"
	"fmt"

	"github.com/samlkeyd/samlkeyd/keys/fips"
)

// A package that chooses an algorithm asks the policy first. With
// GODEBUG=fips140=on this prints the refusal, naming the algorithm and the
// mode; otherwise nothing is refused. (No Output: the mode decides.)
func ExampleAlgorithm() {
	if err := fips.Algorithm("http://www.w3.org/2000/09/xmldsig#rsa-sha1"); errors.Is(err, fips.ErrRefused) {
		fmt.Println(err)
	}
}
