//go:build cgo

package pkcs11

import (
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/ThalesGroup/crypto11"

	"github.com/samlkeyd/samlkeyd/keys"
)

// Generate makes a key pair inside the token o.Options.URI names (its token
// attributes; object and id come from o.Label and o.ID), with CKA_SENSITIVE
// true, CKA_EXTRACTABLE false, CKA_PRIVATE true and CKA_TOKEN true set
// explicitly, signs its self-signed certificate through the token (as
// keys.Generate does in process), imports the certificate into the token
// with the same id and label, and returns the open key. On a failure after
// the key pair was made, the key pair is destroyed again.
func Generate(o GenerateOptions) (*Key, error) {
	u, err := o.target()
	if err != nil {
		return nil, err
	}
	opts := o.Options
	opts.URI = u
	opts.Chain = nil
	if opts.MaxSessions == 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	ctx, err := openContext(opts)
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", u, err)
	}
	h := &handle{ctx: ctx}
	if err := h.generate(o, u); err != nil {
		h.close()
		return nil, fmt.Errorf("generate %s: %w", u, err)
	}
	h.close()
	// Reopen through Open, which finds what was made as any later start
	// will: a key pair and a certificate with this id and label.
	k, err := Open(opts)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return k, nil
}

// target checks the options and returns the URI of the key to make.
func (o *GenerateOptions) target() (URI, error) {
	u := o.Options.URI.tokenOnly()
	if o.Label == "" {
		return u, fmt.Errorf("generate key pair in %s: label is empty", u)
	}
	u.Object = o.Label
	u.ID = o.ID
	if len(u.ID) == 0 {
		r := o.Rand
		if r == nil {
			r = rand.Reader
		}
		u.ID = make([]byte, 16)
		if _, err := io.ReadFull(r, u.ID); err != nil {
			return u, fmt.Errorf("generate key pair %s: id: %w", u, err)
		}
	}
	return u, nil
}

func (h *handle) generate(o GenerateOptions, u URI) error {
	label := []byte(u.Object)
	if existing, err := h.ctx.FindKeyPairs(nil, label); err != nil {
		return classify(err)
	} else if len(existing) > 0 {
		return fmt.Errorf("label %q: %w", u.Object, ErrObjectExists)
	}
	if cert, err := h.ctx.FindCertificate(nil, label, nil); err != nil {
		return classify(err)
	} else if cert != nil {
		return fmt.Errorf("certificate label %q: %w", u.Object, ErrObjectExists)
	}
	pub, err := crypto11.NewAttributeSetWithIDAndLabel(u.ID, label)
	if err != nil {
		return err
	}
	priv := pub.Copy()
	for _, a := range []struct {
		t crypto11.AttributeType
		v bool
	}{
		{crypto11.CkaToken, true},
		{crypto11.CkaPrivate, true},
		{crypto11.CkaSensitive, true},
		{crypto11.CkaExtractable, false},
	} {
		if err := priv.Set(a.t, a.v); err != nil {
			return err
		}
	}
	var signer crypto11.Signer
	switch strings.ToLower(o.KeyType) {
	case "", "rsa":
		size := o.KeySize
		if size == 0 {
			size = 2048
		}
		if size != 2048 && size != 3072 && size != 4096 {
			return fmt.Errorf("RSA key size %d: use 2048, 3072 or 4096", size)
		}
		signer, err = h.ctx.GenerateRSAKeyPairWithAttributes(pub, priv, size)
	case "ec":
		var curve elliptic.Curve
		switch o.KeySize {
		case 0, 256:
			curve = elliptic.P256()
		case 384:
			curve = elliptic.P384()
		default:
			return fmt.Errorf("EC key size %d: use 256 or 384", o.KeySize)
		}
		// An EC key signs only (SoftHSM2 would otherwise default CKA_DECRYPT
		// and CKA_DERIVE to true).
		for _, t := range []crypto11.AttributeType{crypto11.CkaDecrypt, crypto11.CkaDerive} {
			if err := priv.Set(t, false); err != nil {
				return err
			}
		}
		signer, err = h.ctx.GenerateECDSAKeyPairWithAttributes(pub, priv, curve)
	default:
		return fmt.Errorf("key type %q: use rsa or ec", o.KeyType)
	}
	if err != nil {
		return fmt.Errorf("generate key pair: %w", classify(err))
	}
	cert, err := keys.SelfSign(signer, keys.GenerateOptions{
		Alias: u.Object, DName: o.DName, ValidityDays: o.ValidityDays, Rand: o.Rand, Now: o.Now,
	})
	if err == nil {
		err = classify(h.ctx.ImportCertificateWithLabel(u.ID, label, cert))
	}
	if err != nil {
		_ = signer.Delete()
		return fmt.Errorf("self-signed certificate: %w", err)
	}
	return nil
}
