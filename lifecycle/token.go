package lifecycle

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// A use whose selected record is a pkcs11 record rotates inside its token:
// the next key is generated in the same token (sensitive, not extractable),
// its self-signed certificate is signed through the token, and it is
// published as a pkcs11 record with the same PIN. The private key never
// exists outside the token.

// nextKeyRecord is a generated next key ready to publish: the record, and for a
// token key the open key, to delete again when the record is not stored.
type nextKeyRecord struct {
	rec   store.NewRecord
	token *pkcs11.Key // nil for a keystore key
}

// generateNext makes use's next key under p: inside the token of cur when
// cur (the selected record, may be nil) is a pkcs11 record, else in a new
// PKCS#12 keystore.
func generateNext(cfg *config.Config, cur *store.Record, use keys.Use, p Policy, now time.Time, rnd io.Reader) (nextKeyRecord, error) {
	host := hostOf(cfg.SP.EntityID)
	if cur == nil || cur.Type != store.TypePKCS11 {
		rec, err := generate(use, p, host, now, rnd)
		return nextKeyRecord{rec: rec}, err
	}
	return generateInToken(cfg.PKCS11.Module, cur, use, p, host, now, rnd)
}

// generateInToken makes the next key in cur's token: a new key pair
// labelled samlkeyd-<use>-<date>-<id8> (the record id's first 8 digits),
// with a self-signed certificate made through the token, as a pkcs11
// record with cur's PIN and the certificate as its chain. Errors name cur;
// on an error nothing is left on the token.
func generateInToken(module string, cur *store.Record, use keys.Use, p Policy, host string, now time.Time, rnd io.Reader) (nextKeyRecord, error) {
	label := fmt.Sprintf("certificate record %s (%q)", cur.ID, cur.Name)
	if module == "" {
		return nextKeyRecord{}, fmt.Errorf("generate the next %s key in the token of %s: set pkcs11.module to the PKCS#11 library", use, label)
	}
	u, err := cur.PKCS11URI()
	if err != nil {
		return nextKeyRecord{}, fmt.Errorf("generate the next %s key: %w", use, err)
	}
	raw := make([]byte, 16)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return nextKeyRecord{}, fmt.Errorf("record id: %w", err)
	}
	id := hex.EncodeToString(raw)
	day := now.UTC().Format("2006-01-02")
	k, err := pkcs11.Generate(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: module, URI: pkcs11.URI{Token: u.Token, Manufacturer: u.Manufacturer, Serial: u.Serial, Model: u.Model},
			PIN: cur.StorePassword, MaxSessions: 2},
		Label:   fmt.Sprintf("samlkeyd-%s-%s-%s", use, day, id[:8]),
		KeyType: strings.ToLower(p.KeyAlg), KeySize: p.KeySize,
		DName:        fmt.Sprintf("CN=%s SAML %s %s,O=samlkeyd", host, use, day),
		ValidityDays: int(p.Validity / (24 * time.Hour)),
		Rand:         rnd,
		Now:          func() time.Time { return now },
	})
	if err != nil {
		return nextKeyRecord{}, fmt.Errorf("generate the next %s key in the token of %s: %w", use, label, err)
	}
	return nextKeyRecord{token: k, rec: store.NewRecord{
		ID:   id,
		Name: fmt.Sprintf("samlkeyd %s key %s %s", use, now.UTC().Format("2006-01-02T15:04:05Z"), id[:8]),
		Type: store.TypePKCS11, Data: []byte(k.URI().String()),
		StorePassword: secret.New(cur.StorePassword.Reveal()), Chain: k.Chain(),
	}}, nil
}

// publish stores n as use's next key with publishNext. A token key whose
// record could not be stored is deleted from the token again; when that
// fails too, the error names the objects left behind. The token key is
// closed either way: the daemon opens it from the record.
func (n nextKeyRecord) publish(ctx context.Context, publishNext func(context.Context, store.NewRecord) (*store.Record, error)) (*store.Record, error) {
	rec, err := publishNext(ctx, n.rec)
	if n.token == nil {
		return rec, err
	}
	if err == nil {
		_ = n.token.Close()
		return rec, nil
	}
	if derr := n.token.Delete(); derr != nil {
		return nil, errors.Join(err, fmt.Errorf("the token objects of the unpublished key were left on the token (delete them with pkcs11-tool --delete-object): %s: %w", n.token.URI(), derr))
	}
	return nil, fmt.Errorf("%w (the key generated in the token for it, %s, was deleted again)", err, n.token.URI())
}
