//go:build !cgo

package pkcs11

import (
	"crypto"
	"crypto/x509"
	"io"
)

// handle is empty without cgo: nothing can be opened.
type handle struct{}

func openHandle(Options) (*handle, *x509.Certificate, error) { return nil, nil, ErrNoCgo }

func (*handle) public() crypto.PublicKey                               { return nil }
func (*handle) close()                                                 {}
func (*handle) destroy(URI) error                                      { return ErrNoCgo }
func (*handle) check(URI) error                                        { return ErrNoCgo }
func (*handle) sign([]byte, crypto.SignerOpts) ([]byte, error)         { return nil, ErrNoCgo }
func (*handle) decrypt(io.Reader, []byte, decryptMode) ([]byte, error) { return nil, ErrNoCgo }

// Generate needs cgo.
func Generate(GenerateOptions) (*Key, error) { return nil, ErrNoCgo }

// List needs cgo.
func List(string, ListOptions) ([]TokenInfo, error) { return nil, ErrNoCgo }
