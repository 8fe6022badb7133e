package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) certExportCmd() *cobra.Command {
	var out, format string
	cmd := &cobra.Command{
		Use:   "export ID [--out F] [--new-storepass-file P [--new-keypass-file K] [--format pkcs12|jks]]",
		Short: "Write a record's file to stdout or a 0600 file: as added, or re-encrypted with passwords you choose",
		Long: "Without --new-storepass*, writes the record's file exactly as added. With it, writes the record's\n" +
			"keystore (same format, or --format pkcs12|jks) under the new store password and the new key password\n" +
			"(default: the new store password): the way to take a base system keystore, whose passwords are random\n" +
			"and sealed in the store, into keytool or another system. The record is not changed.",
		Args: cobra.ExactArgs(1),
	}
	fs := cmd.Flags()
	fs.StringVar(&out, "out", "", "write to this file (0600, atomically) instead of stdout")
	fs.StringVar(&format, "format", "", "with --new-storepass*: the keystore format written, pkcs12 or jks (default: the record's)")
	newStore := addPasswordFlags(fs, "new-storepass", "store password of the exported keystore")
	newKey := addPasswordFlags(fs, "new-keypass", "key password of the exported keystore (default: its store password)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		sp, reencrypt, err := newStore.fromFlags()
		if err != nil {
			return err
		}
		defer sp.Zero()
		kp, err := newKey.optional()
		if err != nil {
			return err
		}
		defer kp.Zero()
		if !reencrypt && (!kp.Empty() || format != "") {
			return errors.New("cert export: --new-keypass* and --format need --new-storepass, --new-storepass-file or --new-storepass-env")
		}
		return a.withStore(cmd.Context(), func(s *store.Store) error {
			r, err := s.Record(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			data := r.Data
			if reencrypt {
				if data, err = reencode(r, keys.Format(strings.ToLower(format)), sp, kp); err != nil {
					return err
				}
				defer clear(data)
			}
			if out == "" {
				_, err = a.stdout.Write(data)
				return err
			}
			return keys.WriteFile(out, data)
		})
	}
	return cmd
}

// reencode writes record r's keystore in format (empty: the record's)
// under new passwords. Only keystores with a private key can be written.
func reencode(r *store.Record, format keys.Format, sp, kp secret.Value) ([]byte, error) {
	ks, err := r.Parse()
	if err != nil {
		return nil, fmt.Errorf("cert export: %w", err)
	}
	if !hasKey(ks) {
		return nil, fmt.Errorf("cert export: record %s (%q) is %s without a private key: export it as it is (no password protects a certificate)", r.ID, r.Name, r.Type)
	}
	switch format {
	case "":
		if ks.Format != keys.FormatJKS && ks.Format != keys.FormatPKCS12 {
			return nil, fmt.Errorf("cert export: record %s (%q) is %s: give --format pkcs12 or --format jks", r.ID, r.Name, ks.Format)
		}
	case keys.FormatJKS, keys.FormatPKCS12:
		ks.Format = format
	default:
		return nil, fmt.Errorf("cert export: --format %q: use pkcs12 or jks", format)
	}
	if ks.Format == keys.FormatPKCS12 && !kp.Empty() && !kp.Equal(sp) {
		return nil, errors.New("cert export: PKCS#12 keys use the store password (as in keytool): drop --new-keypass* or use --format jks")
	}
	data, err := ks.Marshal(sp, kp)
	if err != nil {
		return nil, fmt.Errorf("cert export: record %s (%q): %w", r.ID, r.Name, err)
	}
	return data, nil
}

// hasKey reports whether ks holds a private-key entry.
func hasKey(ks *keys.Keystore) bool {
	for _, e := range ks.Entries {
		if e.IsPrivateKey() {
			return true
		}
	}
	return false
}
