package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) certCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Manage certificate records: keystores and trusted certificates in the store",
	}
	cmd.AddCommand(a.certAddCmd(), a.certListCmd(), a.certShowCmd(), a.certValidateCmd(),
		a.certActiveCmd(true), a.certActiveCmd(false), a.certDeleteCmd(), a.certExportCmd(), a.certRenewCmd())
	return cmd
}

func (a *app) certAddCmd() *cobra.Command {
	var name, typ, file, alias, id, uri string
	var inactive bool
	cmd := &cobra.Command{
		Use:   "add --name N --type TYPE (--file F | --uri PKCS11-URI --pin-file P [--file chain.pem])",
		Short: "Add a keystore, certificate file or token key as a record, after validating it",
		Args:  cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "record name (unique)")
	fs.StringVar(&typ, "type", "", "record type: java_key_store, pkcs12, pem, trust_store_cert or pkcs11")
	fs.StringVar(&file, "file", "", "the keystore or certificate file (pkcs11: the PEM chain the CA returned; default the token's certificate)")
	fs.StringVar(&uri, "uri", "", "pkcs11: the key's PKCS#11 URI, like pkcs11:token=samlkeyd;object=signing-2027")
	fs.StringVar(&alias, "alias", "", "alias of the private-key entry (default: the only one)")
	fs.StringVar(&id, "id", "", "record id, 32 lowercase hex digits (default: random)")
	fs.BoolVar(&inactive, "inactive", false, "add the record inactive")
	storePass := addPasswordFlags(fs, "storepass", "keystore password")
	keyPass := addPasswordFlags(fs, "keypass", "private key password (default: the store password)")
	pin := addPasswordFlags(fs, "pin", "pkcs11: the token's user PIN")
	for _, f := range []string{"name", "type"} {
		_ = cmd.MarkFlagRequired(f)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if store.Type(typ) == store.TypePKCS11 {
			return a.certAddPKCS11(cmd, store.NewRecord{ID: id, Name: name, Type: store.TypePKCS11, Inactive: inactive}, uri, file, pin)
		}
		if file == "" {
			return errors.New(`cert add: required flag "file" not set`)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("cert add: %w", err)
		}
		t := store.Type(typ)
		sp, given, err := storePass.fromFlags()
		if err == nil && !given && t.IsKeystore() {
			sp, err = storePass.value(a, "Enter keystore password")
		}
		if err != nil {
			return err
		}
		defer sp.Zero()
		kp, err := keyPass.optional()
		if err != nil {
			return err
		}
		defer kp.Zero()
		return a.withStore(cmd.Context(), func(s *store.Store) error {
			r, err := s.AddRecord(cmd.Context(), actor(), store.NewRecord{
				ID: id, Name: name, Type: t, Inactive: inactive, Data: data, Alias: alias, StorePassword: sp, KeyPassword: kp,
			})
			if err != nil {
				return fmt.Errorf("%w (file %q)", err, file)
			}
			fmt.Fprintln(a.stdout, r.ID)
			return nil
		})
	}
	return cmd
}

func (a *app) certListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List certificate records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				recs, err := s.Records(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if recs == nil {
						recs = []*store.Record{}
					}
					return writeJSON(a.stdout, recs)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tTYPE\tACTIVE\tNOT AFTER")
				for _, r := range recs {
					fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\n", r.ID, r.Name, r.Type, r.Active, r.NotAfter.Format(time.RFC3339))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of records")
	return cmd
}

func (a *app) certShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one certificate record (never its passwords)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				r, err := s.Record(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, r)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
				for _, kv := range [][2]string{
					{"id", r.ID}, {"name", r.Name}, {"type", string(r.Type)}, {"format", string(r.Format)},
					{"active", fmt.Sprint(r.Active)}, {"alias", r.Alias}, {"not_after", r.NotAfter.Format(time.RFC3339)},
					{"fingerprint_sha256", r.FingerprintSHA256}, {"created", r.Created.Format(time.RFC3339)},
					{"updated", r.Updated.Format(time.RFC3339)}, {"size", fmt.Sprint(len(r.Data))},
				} {
					fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the record as a JSON object")
	return cmd
}

func (a *app) certValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate ID",
		Short: "Open a record with its passwords and check it; prints \"Valid key_store\" for a good keystore",
		Long: "Opens the record's file with its stored passwords and checks it. A keystore: expiry, key and\n" +
			"certificate match, chain order; prints \"Valid key_store\". A trusted certificate: dates, its\n" +
			"self-signature if self-signed, key size, signature algorithm; prints a \"certificate:\" line for each\n" +
			"and \"Valid certificate\". Weak but usable findings are \"warning:\" lines; an invalid record prints\n" +
			"\"problem:\" lines and exits 2. A pkcs11 record: its token is opened with pkcs11.module and the PIN, the\n" +
			"token key must be the stored chain's leaf key and sign through the token; then as a keystore.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				v, err := s.ValidateRecord(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if v.Record.Type == store.TypePKCS11 {
					if v.Report, err = a.validatePKCS11(cmd, v.Record); err != nil {
						return err
					}
				}
				for _, w := range v.Report.Warnings {
					fmt.Fprintln(a.stdout, "warning:", w)
				}
				if !v.Report.Valid() {
					for _, p := range v.Report.Problems {
						fmt.Fprintln(a.stdout, "problem:", p)
					}
					return &exitError{code: 2, err: fmt.Errorf("record %s (%q) is not valid: %d problem(s)", v.Record.ID, v.Record.Name, len(v.Report.Problems))}
				}
				if v.Record.Type.IsKeystore() || v.Record.Type == store.TypePKCS11 {
					fmt.Fprintln(a.stdout, "Valid key_store")
					return nil
				}
				for _, c := range v.Record.Chain() {
					fmt.Fprintln(a.stdout, "certificate:", keys.DescribeCertificate(c))
				}
				fmt.Fprintln(a.stdout, "Valid certificate")
				return nil
			})
		},
	}
}

func (a *app) certActiveCmd(active bool) *cobra.Command {
	use, short, done := "activate ID", "Mark a record active", "activated"
	if !active {
		use, short, done = "deactivate ID", "Mark a record inactive (refused while a keystore property selects it)", "deactivated"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				if err := s.SetActive(cmd.Context(), actor(), args[0], active); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "record %s %s\n", args[0], done)
				return nil
			})
		},
	}
}

func (a *app) certDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a record (refused while a property points to it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				if err := s.DeleteRecord(cmd.Context(), actor(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "record %s deleted\n", args[0])
				return nil
			})
		},
	}
}

// writeJSON prints v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// errNotSet is returned by property get for a property that is not set.
var errNotSet = errors.New("not set")
