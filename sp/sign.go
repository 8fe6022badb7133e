package sp

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// sign signs data with the Service's key under alg: RSA PKCS#1 v1.5, or
// ECDSA with the signature as the concatenated, zero-padded r and s that
// XML-DSig 1.1 (section 6.4.3) and the redirect binding's SigAlg ask for,
// not the ASN.1 DER that crypto.Signer returns.
func (svc *Service) sign(alg Algorithm, data []byte) ([]byte, error) {
	if svc.signer == nil {
		return nil, errors.New("sign: no signing key")
	}
	h := alg.Hash.New()
	h.Write(data)
	digest := h.Sum(nil)
	r := svc.rand
	if r == nil {
		r = rand.Reader
	}
	sig, err := svc.signer.Sign(r, digest, alg.Hash)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", alg.Name, err)
	}
	if alg.Key != KeyEC {
		return sig, nil
	}
	pub, ok := svc.signer.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("sign with %s: the key is %T, not EC", alg.Name, svc.signer.Public())
	}
	return ecdsaRaw(sig, (pub.Curve.Params().BitSize+7)/8)
}

// ecdsaRaw turns an ASN.1 DER ECDSA signature into r||s, each size bytes.
func ecdsaRaw(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 || rs.R == nil || rs.S == nil || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return nil, errors.New("sign: the signer returned a malformed ECDSA signature")
	}
	if (rs.R.BitLen()+7)/8 > size || (rs.S.BitLen()+7)/8 > size {
		return nil, errors.New("sign: the ECDSA signature is longer than the curve allows")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
