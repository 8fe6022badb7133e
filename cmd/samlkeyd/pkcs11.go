package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/keys/pkcs11"
)

// pkcs11Cmd is the token equivalent of the keystore commands: list a
// module's tokens and keys, generate a key pair inside a token, and make a
// CSR through it.
func (a *app) pkcs11Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pkcs11",
		Short: "Keys in a PKCS#11 token (HSM, smart card, SoftHSM2): list, generate, csr",
		Long: "Keys that never leave a PKCS#11 token. --module is the vendor's PKCS#11 library (SoftHSM2:\n" +
			"/usr/lib/softhsm/libsofthsm2.so). Keys are named by RFC 7512 URIs such as\n" +
			"pkcs11:token=samlkeyd;object=signing-2027. The PIN is never part of a URI: give --pin-file.",
	}
	cmd.AddCommand(a.p11ListCmd(), a.p11GenerateCmd(), a.p11CSRCmd())
	return cmd
}

// p11Flags are the flags the pkcs11 subcommands share.
type p11Flags struct {
	module string
	pin    *passwordFlags
}

func addP11Flags(cmd *cobra.Command) *p11Flags {
	f := &p11Flags{}
	cmd.Flags().StringVar(&f.module, "module", "", "PKCS#11 library path, e.g. /usr/lib/softhsm/libsofthsm2.so (required)")
	_ = cmd.MarkFlagRequired("module")
	f.pin = addPasswordFlags(cmd.Flags(), "pin", "token user PIN")
	return f
}

func (a *app) p11ListCmd() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "list --module PATH [--token LABEL] [--pin-file F]",
		Short: "List a module's tokens; with a PIN, the token's key pairs (flags, size) and certificates",
		Args:  cobra.NoArgs,
	}
	f := addP11Flags(cmd)
	cmd.Flags().StringVar(&token, "token", "", "only this token (label); needed with a PIN when the module has several")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pin, err := f.pin.optional()
		if err != nil {
			return err
		}
		tokens, err := pkcs11.List(f.module, pkcs11.ListOptions{Token: token, PIN: pin})
		if err != nil {
			return err
		}
		if len(tokens) == 0 {
			fmt.Fprintf(a.stdout, "no initialised token in %s (softhsm2-util --init-token, or the vendor's tool, makes one)\n", f.module)
		}
		for _, t := range tokens {
			printToken(a.stdout, t)
		}
		return nil
	}
	return cmd
}

func printToken(w io.Writer, t pkcs11.TokenInfo) {
	fmt.Fprintf(w, "token %q  manufacturer %q  model %q  serial %q  slot %d\n  uri %s\n",
		t.Label, t.Manufacturer, t.Model, t.Serial, t.Slot, t.URI())
	if !t.Listed {
		return
	}
	if len(t.Keys) == 0 {
		fmt.Fprintln(w, "  no private keys")
	}
	for _, k := range t.Keys {
		fmt.Fprintf(w, "  key %q  id %s  %s %d  %s  usage %s\n", k.Label, hexOrNone(k.ID), k.Type, k.Bits, keyFlags(k), keyUsage(k))
		u := t.URI()
		u.Object, u.ID = k.Label, k.ID
		fmt.Fprintf(w, "    uri %s\n", u)
		if len(k.Certs) == 0 {
			fmt.Fprintln(w, "    no certificate with this id")
		}
		for _, c := range k.Certs {
			printCert(w, "    ", c)
		}
	}
	for _, c := range t.Certs {
		if !certOfKey(t.Keys, c) {
			printCert(w, "  ", c)
		}
	}
}

func certOfKey(ks []pkcs11.KeyInfo, c pkcs11.CertInfo) bool {
	for _, k := range ks {
		for _, kc := range k.Certs {
			if kc.Label == c.Label && bytes.Equal(kc.ID, c.ID) {
				return true
			}
		}
	}
	return false
}

func printCert(w io.Writer, indent string, c pkcs11.CertInfo) {
	if c.Cert == nil {
		fmt.Fprintf(w, "%scertificate %q  id %s  (does not parse as X.509)\n", indent, c.Label, hexOrNone(c.ID))
		return
	}
	fmt.Fprintf(w, "%scertificate %q  id %s  subject %s  not after %s  sha256 %s\n", indent, c.Label, hexOrNone(c.ID),
		c.Cert.Subject, c.Cert.NotAfter.UTC().Format(time.RFC3339), keys.SHA256Fingerprint(c.Cert).Colon())
}

func keyFlags(k pkcs11.KeyInfo) string {
	fl := []string{"sensitive", "not extractable"}
	if !k.Sensitive {
		fl[0] = "NOT SENSITIVE"
	}
	if k.Extractable {
		fl[1] = "EXTRACTABLE"
	}
	if k.AlwaysSensitive {
		fl = append(fl, "always sensitive")
	}
	if k.NeverExtractable {
		fl = append(fl, "never extractable")
	}
	return strings.Join(fl, ", ")
}

func keyUsage(k pkcs11.KeyInfo) string {
	var u []string
	if k.Sign {
		u = append(u, "sign")
	}
	if k.Decrypt {
		u = append(u, "decrypt")
	}
	if len(u) == 0 {
		return "none"
	}
	return strings.Join(u, ",")
}

func hexOrNone(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	return hex.EncodeToString(b)
}

func (a *app) p11GenerateCmd() *cobra.Command {
	var o pkcs11.GenerateOptions
	var token string
	cmd := &cobra.Command{
		Use:   "generate --module PATH --token LABEL --label NAME --dname DN --pin-file F",
		Short: "Generate a key pair inside a token (sensitive, not extractable) with a self-signed certificate",
		Long: "Generate a key pair inside the token, with CKA_SENSITIVE true and CKA_EXTRACTABLE false, sign its\n" +
			"self-signed certificate through the token and import the certificate into the token under the same\n" +
			"label and id. Prints the URI to give `samlkeyd cert add --type pkcs11 --uri` and the certificate's\n" +
			"SHA-256 fingerprint. For a CA-signed certificate, run `samlkeyd pkcs11 csr` next.",
		Args: cobra.NoArgs,
	}
	f := addP11Flags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&token, "token", "", "label of the token to generate in (required)")
	fl.StringVar(&o.Label, "label", "", "label (CKA_LABEL) of the new key pair and certificate (required)")
	fl.StringVar(&o.KeyType, "key-type", "rsa", "key type: rsa or ec")
	fl.IntVar(&o.KeySize, "key-size", 0, "key size: RSA 2048 (default), 3072, 4096; EC 256 (default), 384")
	fl.StringVar(&o.DName, "dname", "", `distinguished name, e.g. "CN=sp.example.com,O=Example,C=US" (required)`)
	fl.IntVar(&o.ValidityDays, "validity", 90, "days the certificate is valid")
	for _, n := range []string{"token", "label", "dname"} {
		_ = cmd.MarkFlagRequired(n)
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		pin, err := f.pin.value(a, "Enter token PIN")
		if err != nil {
			return err
		}
		o.Options = pkcs11.Options{Module: f.module, URI: pkcs11.URI{Token: token}, PIN: pin}
		k, err := pkcs11.Generate(o)
		if err != nil {
			return err
		}
		defer k.Close()
		leaf := k.Chain()[0]
		fmt.Fprintf(a.stdout, "Generated a %s inside token %q (sensitive, not extractable) and a self-signed certificate for %s, valid until %s\n",
			keyDesc(leaf), token, leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339))
		fmt.Fprintf(a.stdout, "uri: %s\n", k.URI())
		fmt.Fprintf(a.stdout, "sha256 fingerprint: %s\n", keys.SHA256Fingerprint(leaf).Colon())
		return nil
	}
	return cmd
}

func (a *app) p11CSRCmd() *cobra.Command {
	var uri, out string
	cmd := &cobra.Command{
		Use:   "csr --module PATH --uri URI --pin-file F [--out F.csr]",
		Short: "Write a PEM certificate signing request signed through the token (keytool -certreq for a token key)",
		Long: "Write a PEM CSR for the token key the URI names, with the subject of its certificate, signed\n" +
			"through the token. Give the CA's reply to `samlkeyd cert add --type pkcs11` as the record's chain.",
		Args: cobra.NoArgs,
	}
	f := addP11Flags(cmd)
	cmd.Flags().StringVar(&uri, "uri", "", "PKCS#11 URI of the key, e.g. pkcs11:token=samlkeyd;object=signing-2027 (required)")
	cmd.Flags().StringVar(&out, "out", "", "write the CSR to this file (default: stdout)")
	_ = cmd.MarkFlagRequired("uri")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		u, err := pkcs11.ParseURI(uri)
		if err != nil {
			return err
		}
		pin, err := f.pin.value(a, "Enter token PIN")
		if err != nil {
			return err
		}
		k, err := pkcs11.Open(pkcs11.Options{Module: f.module, URI: u, PIN: pin})
		if err != nil {
			return err
		}
		defer k.Close()
		csr, err := keys.CSR(&keys.Entry{Alias: u.Object, Key: k.Signer(), Chain: k.Chain()}, rand.Reader)
		if err != nil {
			return fmt.Errorf("csr %s: %w", u, err)
		}
		return writeOut(a, out, csr)
	}
	return cmd
}
