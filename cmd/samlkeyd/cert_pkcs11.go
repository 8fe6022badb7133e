package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
	"github.com/samlkeyd/samlkeyd/store"
)

// certAddPKCS11 adds a pkcs11 record: it opens the token with the config's
// pkcs11.module and the PIN to check that the URI names a key pair and that
// the chain (the file's, else the token's certificate) holds its public
// key, then stores the URI, the PIN (sealed) and the chain. The PIN is
// never printed.
func (a *app) certAddPKCS11(cmd *cobra.Command, r store.NewRecord, uri, file string, pin *passwordFlags) error {
	if uri == "" {
		return errors.New(`cert add: type pkcs11 needs --uri (the key's PKCS#11 URI)`)
	}
	u, err := pkcs11.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("cert add: %w", err)
	}
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return err
	}
	if cfg.PKCS11.Module == "" {
		return errors.New("cert add: type pkcs11 needs pkcs11.module in the config (the PKCS#11 library)")
	}
	var given []*x509.Certificate
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("cert add: %w", err)
		}
		if given, err = keys.ParseCertificates(data); err != nil {
			return fmt.Errorf("cert add: chain file %q: %w", file, err)
		}
	}
	p, err := pin.value(a, "Enter token PIN")
	if err != nil {
		return err
	}
	defer p.Zero()
	k, err := pkcs11.Open(pkcs11.Options{Module: cfg.PKCS11.Module, URI: u, PIN: p, Chain: given, MaxSessions: 2})
	if err != nil {
		return fmt.Errorf("cert add: %w", err)
	}
	defer k.Close()
	r.Data, r.StorePassword, r.Chain = []byte(u.String()), p, k.Chain()
	return a.withStore(cmd.Context(), func(s *store.Store) error {
		rec, err := s.AddRecord(cmd.Context(), actor(), r)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, rec.ID)
		return nil
	})
}
