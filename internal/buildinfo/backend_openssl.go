//go:build openssl

package buildinfo

// cryptoBackend names the implementation of the crypto samlkeyd does
// itself: OpenSSL, in a binary built with -tags openssl.
const cryptoBackend = "openssl"
