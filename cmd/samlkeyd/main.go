// Command samlkeyd is the key custodian of a SAML service provider: it holds
// the SP's signing and encryption keystores, serves its metadata and
// certificates, signs its requests, checks its mTLS connections, rotates its
// keys and alerts before anything expires.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := disableCoreDumps(); err != nil {
		fmt.Fprintln(os.Stderr, "samlkeyd: warning:", err)
	}
	if err := newApp(os.Stdin, os.Stdout, os.Stderr).root().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "samlkeyd:", err)
		os.Exit(exitCode(err))
	}
}
