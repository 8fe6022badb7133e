package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

func (a *app) metadataCmd() *cobra.Command {
	var signed bool
	var out string
	cmd := &cobra.Command{
		Use:   "metadata",
		Short: "Print the SP metadata serve publishes at /saml/metadata, offline",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := a.snapshot(cmd.Context(), cmd, func(c *config.Config) {
				if signed {
					c.SP.Metadata.Signed = true
				}
			})
			if err != nil {
				return err
			}
			return a.writeOut(out, snap.Metadata.Metadata())
		},
	}
	cmd.Flags().BoolVar(&signed, "signed", false, "sign the metadata with the signing key (as sp.metadata.signed: true does)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file (0600, atomically) instead of stdout")
	cmd.AddCommand(a.metadataPEMCmd(), a.metadataLintCmd())
	return cmd
}

func (a *app) metadataPEMCmd() *cobra.Command {
	var use, out string
	var der bool
	cmd := &cobra.Command{
		Use:   "pem --use signing|encryption",
		Short: "Print the published certificates as serve does at /saml/certs/<use>.pem (or .crt with --der)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := keys.Use(use)
			if u != keys.UseSigning && u != keys.UseEncryption {
				return fmt.Errorf("--use %q: want signing or encryption", use)
			}
			snap, err := a.snapshot(cmd.Context(), cmd, nil)
			if err != nil {
				return err
			}
			b := snap.Metadata.PEM(u)
			if der {
				b = snap.Metadata.DER(u)
			}
			if len(b) == 0 {
				return fmt.Errorf("no %s certificate is published", use)
			}
			return a.writeOut(out, b)
		},
	}
	cmd.Flags().StringVar(&use, "use", "signing", "signing or encryption")
	cmd.Flags().BoolVar(&der, "der", false, "the current certificate as DER (the .crt endpoint)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of stdout")
	return cmd
}

// writeOut writes b to path atomically with mode 0600, or to stdout.
func (a *app) writeOut(path string, b []byte) error {
	if path == "" {
		_, err := a.stdout.Write(b)
		return err
	}
	return keys.WriteFile(path, b)
}
