package main

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

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

// renewPKCS11 is cert renew for a pkcs11 record: a new key pair in the
// record's token with the record's subject, key type and size, its CSR
// signed through the token, and the next steps printed.
func (a *app) renewPKCS11(cmd *cobra.Command, rec *store.Record, label string, validity int, csrOut string) error {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return err
	}
	if cfg.PKCS11.Module == "" {
		return errors.New("cert renew: a pkcs11 record needs pkcs11.module in the config (the PKCS#11 library)")
	}
	u, err := rec.PKCS11URI()
	if err != nil {
		return err
	}
	chain := rec.Chain()
	if len(chain) == 0 {
		return fmt.Errorf("cert renew: certificate record %s (%q) has no stored chain", rec.ID, rec.Name)
	}
	if label == "" {
		label = fmt.Sprintf("%s-%s", cmp.Or(u.Object, "samlkeyd"), time.Now().UTC().Format("20060102-150405"))
	}
	k, csr, err := pkcs11.Renew(pkcs11.GenerateOptions{
		Options: pkcs11.Options{Module: cfg.PKCS11.Module, URI: pkcs11.URI{Token: u.Token, Manufacturer: u.Manufacturer, Serial: u.Serial, Model: u.Model},
			PIN: rec.StorePassword, MaxSessions: 2},
		Label: label, ValidityDays: validity,
	}, chain[0])
	if err != nil {
		return fmt.Errorf("cert renew certificate record %s (%q): %w", rec.ID, rec.Name, err)
	}
	defer k.Close()
	if err := a.writeOut(csrOut, csr); err != nil {
		return err
	}
	w := a.stdout
	if csrOut == "" {
		w = a.stderr // stdout is the CSR
	}
	fmt.Fprintf(w, "generated a new key in token %q (sensitive, not extractable)\nuri: %s\n", u.Token, k.URI())
	fmt.Fprintf(w, "next: have your CA sign the CSR, then\n  samlkeyd cert add --type pkcs11 --name NAME --uri '%s' --pin-file PIN-FILE --file chain.pem\n"+
		"  samlkeyd rotate publish --use USE --record NAME   (then rotate promote), or samlkeyd property set PROPERTY ID\n", k.URI())
	return nil
}

// validatePKCS11 is cert validate for a pkcs11 record: the token opened
// with pkcs11.module and the record's PIN, the key checked against the
// stored chain and by a test signature, the chain as a keystore's.
func (a *app) validatePKCS11(cmd *cobra.Command, rec *store.Record) (keys.Report, error) {
	cfg, err := a.loadConfig(cmd)
	if err != nil {
		return keys.Report{}, err
	}
	if cfg.PKCS11.Module == "" {
		return keys.Report{}, errors.New("cert validate: a pkcs11 record needs pkcs11.module in the config (the PKCS#11 library)")
	}
	u, err := rec.PKCS11URI()
	if err != nil {
		return keys.Report{Problems: []string{err.Error()}}, nil
	}
	chain := rec.Chain()
	if len(chain) == 0 {
		return keys.Report{Problems: []string{fmt.Sprintf("certificate record %s (%q) has no stored chain", rec.ID, rec.Name)}}, nil
	}
	return pkcs11.Validate(pkcs11.Options{Module: cfg.PKCS11.Module, URI: u, PIN: rec.StorePassword, Chain: chain}, time.Now()), nil
}
