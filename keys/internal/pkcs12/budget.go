// Copyright 2026 the samlkeyd authors. Use of this source code is governed
// by the BSD-style license in the LICENSE file.

package pkcs12

import (
	"fmt"
	"hash"

	"golang.org/x/crypto/pbkdf2"
)

// KDFBudget is the key-derivation work one decode may do, summed over every
// derivation of the file (the MAC, each encrypted SafeContents, each
// shrouded key), in units of one iteration of the PKCS#12 KDF with SHA-256.
// MaxIterations caps one derivation; without a sum, a 10 KB file repeating
// a 2^20-iteration key bag 30 times cost 6 s to refuse and 1 MiB ten
// minutes. One unit took 137-167 ns on the shared 2-core machine where the
// weights were measured (BenchmarkKDFIteration), 329 ns under a load of
// 10-14, so the budget is 1.1-1.3 s there, 2.6 s under that load.
// keytool's defaults cost 110000 units for a one-key file (MAC 10000,
// certificates and key 50000 each), openssl 3's 22528: the budget holds
// about 70 keytool keys.
const KDFBudget = 8_000_000

// Cost of one iteration per output block, in KDFBudget units, by hash
// output size (20 SHA-1, 32 SHA-256, 64 SHA-512): the highest ratio to the
// PKCS#12-KDF SHA-256 iteration seen in two runs of BenchmarkKDFIteration
// on a loaded machine, so that the budget bounds time for every algorithm.
var (
	pkcs12KDFWeight = map[int]int64{20: 3, 32: 1, 64: 7}
	pbkdf2Weight    = map[int]int64{20: 8, 32: 5, 64: 21}
)

// KDFBudgetError is returned when a file asks for more key-derivation work
// than KDFBudget. The work is refused before it is done.
type KDFBudgetError struct {
	Budget int64 // KDFBudget
	Asked  int64 // the work spent so far plus the derivation refused
}

func (e *KDFBudgetError) Error() string {
	return fmt.Sprintf("pkcs12: the file asks for at least %d units of key-derivation work, over the budget of %d per file (a unit is one PKCS#12-KDF SHA-256 iteration; a keytool file needs 110000 per key)", e.Asked, e.Budget)
}

// kdfBudget counts the KDF work of one decode. A nil *kdfBudget does not
// count (encoding, where the iteration counts are ours).
type kdfBudget struct {
	limit, spent int64
}

func newKDFBudget() *kdfBudget { return &kdfBudget{limit: KDFBudget} }

// spend takes iterations × blocks × weight units from b, or fails without
// taking any when that would pass the limit.
func (b *kdfBudget) spend(iterations, blocks int, weight int64) error {
	if b == nil {
		return nil
	}
	n := int64(iterations) * int64(blocks) * weight
	if n < 0 || b.spent+n > b.limit {
		return &KDFBudgetError{Budget: b.limit, Asked: b.spent + n}
	}
	b.spent += n
	return nil
}

// blocks is how many u-byte hash outputs make size bytes.
func blocks(size, u int) int { return (size + u - 1) / u }

// pkcs12KDF is pbkdf (RFC 7292 appendix B.2) after spending its cost.
func (b *kdfBudget) pkcs12KDF(hash func([]byte) []byte, u, v int, salt, password []byte, r int, id byte, size int) ([]byte, error) {
	if err := checkIterations(r); err != nil {
		return nil, err
	}
	if err := b.spend(r, blocks(size, u), pkcs12KDFWeight[u]); err != nil {
		return nil, err
	}
	return pbkdf(hash, u, v, salt, password, r, id, size), nil
}

// pbkdf2Key is PBKDF2 (RFC 8018) after spending its cost.
func (b *kdfBudget) pbkdf2Key(password, salt []byte, r, keyLen int, prf func() hash.Hash) ([]byte, error) {
	if err := checkIterations(r); err != nil {
		return nil, err
	}
	u := prf().Size()
	w, ok := pbkdf2Weight[u]
	if !ok {
		w = pbkdf2Weight[64]
	}
	if err := b.spend(r, blocks(keyLen, u), w); err != nil {
		return nil, err
	}
	return pbkdf2.Key(password, salt, r, keyLen, prf), nil
}

// spendPBES1 spends the cost of a PKCS#12 PBE key and IV derivation
// (RFC 7292 appendix B.2 with SHA-1).
func (b *kdfBudget) spendPBES1(c pbeCipher, iterations int) error {
	keyLen := 5 // shaWith40BitRC2CBC
	switch c.(type) {
	case shaWithTripleDESCBC:
		keyLen = 24
	case shaWith128BitRC2CBC:
		keyLen = 16
	}
	return b.spend(iterations, blocks(keyLen, 20)+blocks(8, 20), pkcs12KDFWeight[20])
}
