//go:build !openssl

package buildinfo

// cryptoBackend names the implementation of the crypto samlkeyd does
// itself: Go's standard library (and its FIPS 140-3 module).
const cryptoBackend = "go"
