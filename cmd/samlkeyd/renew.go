package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
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
		Use:   "renew ID --keystore-out F",
		Short: "Start renewing a CA-signed keystore record: a new key pair in a new keystore file, and its CSR",
		Long: `Generate a new key pair with the record's subject, alias and key type into a
new keystore file (the record's format, 0600) and print its CSR (or write it
with --out). Then, as the reference procedure says: have the CA sign the CSR,
import the root, intermediate and reply into the new file with samlkeyd
keystore import, add it with samlkeyd cert add, and point the keystore
property at it (or let an IdP-visible rollover do it: publish, then promote).`,
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&out, "keystore-out", "", "the new keystore file (required)")
	fs.StringVar(&csrOut, "out", "", "write the CSR here instead of stdout")
	fs.IntVar(&validity, "validity", 365, "validity in days of the placeholder self-signed certificate")
	storePass := addPasswordFlags(fs, "storepass", "password of the new keystore")
	_ = cmd.MarkFlagRequired("keystore-out")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return a.withStore(cmd.Context(), func(s *store.Store) error {
			rec, err := s.Record(cmd.Context(), args[0])
			if err != nil {
				return err
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
