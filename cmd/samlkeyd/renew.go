package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

// certRenewCmd is the path for a CA-signed keystore, which samlkeyd cannot
// rotate by itself: a new key pair with the same subject, alias and key
// type in a new keystore file, and its CSR for the CA.
func (a *app) certRenewCmd() *cobra.Command {
	var out, csrOut string
	var validity int
	cmd := &cobra.Command{
		Use:   "renew ID (--keystore-out F | pkcs11 record: [--label L])",
		Short: "Start renewing a CA-signed record: a new key pair (in a new keystore file, or in the record's token) and its CSR",
		Long: `Generate a new key pair with the record's subject, alias and key type into a
new keystore file (the record's format, 0600) and print its CSR (or write it
with --out). Then, as the reference procedure says: have the CA sign the CSR,
import the root, intermediate and reply into the new file with samlkeyd
keystore import, add it with samlkeyd cert add, and point the keystore
property at it (or let an IdP-visible rollover do it: publish, then promote).

For a pkcs11 record the new key pair is generated inside the record's token
(sensitive, not extractable; pkcs11.module, the record's PIN) under --label,
and the CSR is signed through the token; no keystore file is written. The new
key's URI is printed. Then have the CA sign the CSR and add the reply as the
new key's chain: samlkeyd cert add --type pkcs11 --uri URI --pin-file F
--file chain.pem, and publish it (samlkeyd rotate publish --record).`,
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	var label string
	fs.StringVar(&out, "keystore-out", "", "the new keystore file (required for keystore records)")
	fs.StringVar(&label, "label", "", "pkcs11 records: label of the new key in the token (default: the old label and today's date)")
	fs.StringVar(&csrOut, "out", "", "write the CSR here instead of stdout")
	fs.IntVar(&validity, "validity", 365, "validity in days of the placeholder self-signed certificate")
	storePass := addPasswordFlags(fs, "storepass", "password of the new keystore")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withStore(cmd.Context(), func(s *store.Store) error {
			rec, err := s.Record(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if rec.Type == store.TypePKCS11 {
				return a.renewPKCS11(cmd, rec, label, validity, csrOut)
			}
			if out == "" {
				return errors.New(`required flag(s) "keystore-out" not set`)
			}
			if !rec.Type.IsKeystore() {
				return fmt.Errorf("certificate record %s (%q) is a %s, not a keystore", rec.ID, rec.Name, rec.Type)
			}
			old, err := rec.KeyEntry()
			if err != nil {
				return err
			}
			alg, size := "RSA", 2048
			switch k := old.Key.Public().(type) {
			case *rsa.PublicKey:
				size = k.N.BitLen()
			case *ecdsa.PublicKey:
				alg, size = "EC", k.Curve.Params().BitSize
			}
			pw, err := storePass.value(a, "Password of the new keystore")
			if err != nil {
				return err
			}
			defer pw.Zero()
			g, err := keys.GenerateKeystore(keys.KeystoreOptions{
				GenerateOptions: keys.GenerateOptions{Alias: old.Alias, KeyAlg: alg, KeySize: size,
					ValidityDays: validity, DName: old.Leaf().Subject.String()},
				Format: rec.Format, StorePassword: pw,
			})
			if err != nil {
				return err
			}
			if err := keys.CreateFile(out, g.Data); err != nil {
				return fmt.Errorf("%w (a renewal never overwrites a keystore)", err)
			}
			csr, err := keys.CSR(g.Entry, nil)
			if err != nil {
				return err
			}
			return a.writeOut(csrOut, csr)
		})
	}
	return cmd
}
