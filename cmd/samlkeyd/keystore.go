package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
)

// keystoreCmd is keytool's keystore work with keytool's flag names, so
// runbooks translate one to one.
func (a *app) keystoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keystore",
		Short: "Manage JKS / PKCS#12 keystore files as keytool does",
		Long: "Manage keystore files as keytool does, with keytool's flag names. The format is read from the\n" +
			"file's content (JKS, PKCS#12, PEM, DER), never from its name. Writes are atomic with mode 0600.",
	}
	cmd.AddCommand(a.ksGenerateCmd(), a.ksCSRCmd(), a.ksImportCmd(), a.ksExportCmd(), a.ksListCmd(),
		a.ksValidateCmd(), a.ksStorepasswdCmd(), a.ksKeypasswdCmd(), a.ksChangealiasCmd())
	return cmd
}

// ksFlags are the flags every keystore subcommand shares.
type ksFlags struct {
	path      string
	storePass *passwordFlags
	keyPass   *passwordFlags
}

func addKSFlags(cmd *cobra.Command) *ksFlags {
	f := &ksFlags{}
	cmd.Flags().StringVar(&f.path, "keystore", "", "keystore file (required)")
	_ = cmd.MarkFlagRequired("keystore")
	f.storePass = addPasswordFlags(cmd.Flags(), "storepass", "keystore password")
	f.keyPass = addPasswordFlags(cmd.Flags(), "keypass", "private key password (default: the store password)")
	return f
}

// passwords returns the store password (prompting if need be) and the key
// password (empty: the store password).
func (f *ksFlags) passwords(a *app) (secret.Value, secret.Value, error) {
	sp, err := f.storePass.value(a, "Enter keystore password")
	if err != nil {
		return sp, sp, err
	}
	kp, err := f.keyPass.optional()
	return sp, kp, err
}

// loadError is a keystore file that does not load (unreadable, damaged, a
// wrong password), as opposed to flags that give no password: validate
// reports it as a problem.
type loadError struct{ err error }

func (e *loadError) Error() string { return e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// load opens the keystore with the passwords. PEM and DER files need none,
// so no password is asked for them. A file that does not open is a
// *loadError.
func (f *ksFlags) load(a *app) (*keys.Keystore, secret.Value, secret.Value, error) {
	if data, err := os.ReadFile(f.path); err == nil {
		if format, err := keys.Sniff(data); err == nil && (format == keys.FormatPEM || format == keys.FormatDER) {
			ks, err := keys.Parse(data, secret.Value{}, secret.Value{})
			if err != nil {
				return nil, secret.Value{}, secret.Value{}, &loadError{fmt.Errorf("load keystore %q: %w", f.path, err)}
			}
			return ks, secret.Value{}, secret.Value{}, nil
		}
	}
	sp, kp, err := f.passwords(a)
	if err != nil {
		return nil, sp, kp, err
	}
	ks, err := keys.LoadFile(f.path, sp, kp)
	if errors.Is(err, keys.ErrWrongKeyPassword) && kp.Empty() {
		err = fmt.Errorf("%w (give it with --keypass-file, --keypass-env or --keypass)", err)
	}
	if err != nil {
		return nil, sp, kp, &loadError{err}
	}
	return ks, sp, kp, nil
}

// loadChains opens the keystore for reading certificates only, as keytool
// -list and -exportcert do: without --keypass, JKS private keys stay sealed
// and only the store password is needed.
func (f *ksFlags) loadChains(a *app) (*keys.Keystore, error) {
	kp, err := f.keyPass.optional()
	if err != nil {
		return nil, err
	}
	if !kp.Empty() {
		ks, _, _, err := f.load(a)
		return ks, err
	}
	if data, err := os.ReadFile(f.path); err == nil {
		if format, err := keys.Sniff(data); err == nil && (format == keys.FormatPEM || format == keys.FormatDER) {
			ks, _, _, err := f.load(a)
			return ks, err
		}
	}
	sp, err := f.storePass.value(a, "Enter keystore password")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("load keystore %q: %w", f.path, err)
	}
	ks, err := keys.ParseChains(data, sp)
	if err != nil {
		return nil, fmt.Errorf("load keystore %q: %w", f.path, err)
	}
	return ks, nil
}

// save writes ks back to the keystore file atomically.
func (f *ksFlags) save(ks *keys.Keystore, sp, kp secret.Value) error {
	data, err := ks.Marshal(sp, kp)
	if err != nil {
		return fmt.Errorf("save keystore %q: %w", f.path, err)
	}
	return keys.WriteFile(f.path, data)
}

func (a *app) ksGenerateCmd() *cobra.Command {
	var storeType string
	var o keys.GenerateOptions
	cmd := &cobra.Command{
		Use:   "generate --keystore F --alias A --dname DN",
		Short: "Generate a key pair and self-signed certificate (keytool -genkeypair)",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&storeType, "storetype", "pkcs12", "keystore type of a new file: jks or pkcs12 (an existing file keeps its type)")
	fl.StringVar(&o.Alias, "alias", "", "alias of the new entry (required)")
	fl.StringVar(&o.KeyAlg, "keyalg", "RSA", "key algorithm: RSA or EC")
	fl.IntVar(&o.KeySize, "keysize", 0, "key size: RSA 2048 (default), 3072, 4096; EC 256 (default), 384")
	fl.IntVar(&o.ValidityDays, "validity", 90, "days the certificate is valid")
	fl.StringVar(&o.DName, "dname", "", `distinguished name, e.g. "CN=sp.example.com,O=Example,C=US" (required)`)
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("dname")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		sp, kp, err := f.passwords(a)
		if err != nil {
			return err
		}
		var ks *keys.Keystore
		switch _, statErr := os.Stat(f.path); {
		case statErr == nil:
			if ks, err = keys.LoadFile(f.path, sp, kp); err != nil {
				return err
			}
			if _, err := ks.Entry(o.Alias); err == nil {
				return fmt.Errorf("generate: keystore %q alias %q: %w", f.path, o.Alias, keys.ErrAliasExists)
			}
		case errors.Is(statErr, os.ErrNotExist):
			format := keys.Format(strings.ToLower(storeType))
			if format != keys.FormatJKS && format != keys.FormatPKCS12 {
				return fmt.Errorf("generate: --storetype %q: use jks or pkcs12", storeType)
			}
			ks = &keys.Keystore{Format: format}
		default:
			return fmt.Errorf("generate: %w", statErr)
		}
		if err := ks.Format.CheckKeyPassword(sp, kp); err != nil {
			return fmt.Errorf("generate: %w: drop --keypass or use --storetype jks", err)
		}
		e, err := keys.Generate(o)
		if err != nil {
			return err
		}
		ks.Entries = append(ks.Entries, e)
		if err := f.save(ks, sp, kp); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Generated a %s and a self-signed certificate (%s) for %s, valid %d days: alias %q in %s keystore %s\n",
			keyDesc(e.Leaf()), e.Leaf().SignatureAlgorithm, e.Leaf().Subject, o.ValidityDays, e.Alias, ks.Format, f.path)
		return nil
	}
	return cmd
}

func (a *app) ksCSRCmd() *cobra.Command {
	var alias, out string
	cmd := &cobra.Command{
		Use:   "csr --keystore F --alias A [--out F.csr]",
		Short: "Write a PEM certificate signing request for an alias (keytool -certreq)",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().StringVar(&alias, "alias", "", "private-key alias (default: the only one)")
	cmd.Flags().StringVar(&out, "out", "", "write the CSR to this file (default: stdout)")
	cmd.Flags().StringVar(&out, "file", "", "same as --out (keytool's name)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, _, _, err := f.load(a)
		if err != nil {
			return err
		}
		e, err := ks.PrivateKeyEntry(alias)
		if err != nil {
			return fmt.Errorf("csr: keystore %q: %w", f.path, err)
		}
		csr, err := keys.CSR(e, nil)
		if err != nil {
			return err
		}
		return writeOut(a, out, csr)
	}
	return cmd
}

func (a *app) ksImportCmd() *cobra.Command {
	var alias, file string
	var trustCACerts, noprompt bool
	cmd := &cobra.Command{
		Use:   "import --keystore F --alias A --file CERT [--trustcacerts]",
		Short: "Import a trusted CA certificate, or a CA reply for a key alias (keytool -importcert)",
		Long: "With an alias that is not in the keystore, import the file's one certificate as a trusted entry.\n" +
			"With the alias of a private key, install the CA's reply: it must hold that key's public key and chain\n" +
			"to certificates already imported (root and intermediates first) unless the file is a bundle with the\n" +
			"whole chain. A reply that does not match or does not chain is refused and the file is left untouched.",
		Args: cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().StringVar(&alias, "alias", "", "alias (required)")
	cmd.Flags().StringVar(&file, "file", "", "certificate file, PEM or DER (required)")
	cmd.Flags().BoolVar(&trustCACerts, "trustcacerts", false, "accepted for keytool compatibility; chains are built from the keystore's own trusted entries")
	cmd.Flags().BoolVar(&noprompt, "noprompt", false, "accepted for keytool compatibility; samlkeyd never prompts to confirm")
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("file")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, sp, kp, err := f.load(a)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		certs, err := keys.ParseCertificates(data)
		if err != nil {
			return fmt.Errorf("import %q: %w", file, err)
		}
		msg := ""
		if e, err := ks.Entry(alias); err == nil && e.IsPrivateKey() {
			if err := ks.ImportReply(alias, certs); err != nil {
				return fmt.Errorf("import %q into keystore %q: %w", file, f.path, err)
			}
			msg = fmt.Sprintf("Certificate reply installed in keystore: alias %q, chain length %d", e.Alias, len(e.Chain))
		} else {
			if len(certs) != 1 {
				return fmt.Errorf("import %q: a trusted entry takes one certificate, the file has %d (to install a CA reply, name the private key's alias)", file, len(certs))
			}
			if err := ks.ImportTrusted(alias, certs[0]); err != nil {
				return fmt.Errorf("import %q into keystore %q: %w", file, f.path, err)
			}
			msg = fmt.Sprintf("Certificate was added to keystore: alias %q, %s, SHA-256 %s", alias, certs[0].Subject, keys.FingerprintSHA256(certs[0]))
		}
		if err := f.save(ks, sp, kp); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, msg)
		return nil
	}
	return cmd
}

func (a *app) ksExportCmd() *cobra.Command {
	var alias, out string
	var chain, der bool
	cmd := &cobra.Command{
		Use:   "export --keystore F --alias A [--chain] [--der] [--out F]",
		Short: "Export an alias's certificate or chain as PEM (keytool -exportcert -rfc) or DER",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().StringVar(&alias, "alias", "", "alias (required)")
	cmd.Flags().BoolVar(&chain, "chain", false, "export the whole chain, leaf first")
	cmd.Flags().BoolVar(&der, "der", false, "binary DER instead of PEM")
	cmd.Flags().BoolVar(new(bool), "rfc", true, "PEM output (the default; keytool compatibility)")
	cmd.Flags().StringVar(&out, "out", "", "write to this file (default: stdout)")
	cmd.Flags().StringVar(&out, "file", "", "same as --out (keytool's name)")
	_ = cmd.MarkFlagRequired("alias")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, err := f.loadChains(a)
		if err != nil {
			return err
		}
		e, err := ks.Entry(alias)
		if err != nil {
			return fmt.Errorf("export: keystore %q: %w", f.path, err)
		}
		certs := e.Chain[:1]
		if chain {
			certs = e.Chain
		}
		if der {
			return writeOut(a, out, keys.EncodeDER(certs))
		}
		return writeOut(a, out, keys.EncodePEM(certs))
	}
	return cmd
}

func (a *app) ksValidateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate --keystore F",
		Short: `Check a keystore; print "Valid key_store" or every problem (exit status 2)`,
		Long: "Opens the keystore with the passwords (a file that does not open, damaged or with a wrong password, is a\n" +
			"problem) and checks: a private-key entry exists, each key matches its\n" +
			"certificate, each chain is ordered leaf first and every link verifies up to a self-signed root (in the\n" +
			"chain or a trusted entry), nothing is expired or not yet valid. RSA keys under 2048 bits and SHA-1\n" +
			"signatures are warnings. Prints \"Valid key_store\" when valid; otherwise each problem and exit status 2.",
		Args: cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, _, _, err := f.load(a)
		var le *loadError
		if errors.As(err, &le) {
			fmt.Fprintln(a.stdout, "problem:", le.err)
			return &exitError{code: 2, err: fmt.Errorf("keystore %q is not valid: it does not load", f.path)}
		}
		if err != nil {
			return err
		}
		r := keys.Validate(ks, time.Now())
		for _, w := range r.Warnings {
			fmt.Fprintln(a.stdout, "warning:", w)
		}
		if r.Valid() {
			fmt.Fprintln(a.stdout, "Valid key_store")
			return nil
		}
		for _, p := range r.Problems {
			fmt.Fprintln(a.stdout, "problem:", p)
		}
		return &exitError{code: 2, err: fmt.Errorf("keystore %q is not valid: %d %s", f.path, len(r.Problems), plural(len(r.Problems), "problem", "problems"))}
	}
	return cmd
}

func (a *app) ksStorepasswdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storepasswd --keystore F",
		Short: "Change the store password, re-encrypting without re-keying (keytool -storepasswd)",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	newPass := addPasswordFlags(cmd.Flags(), "new", "new store password")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, _, kp, err := f.load(a)
		if err != nil {
			return err
		}
		np, err := newPass.value(a, "New keystore password")
		if err != nil {
			return err
		}
		if err := f.save(ks, np, ks.Format.KeyPasswordAfterStoreChange(kp, np)); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Store password of %s changed\n", f.path)
		return nil
	}
	return cmd
}

func (a *app) ksKeypasswdCmd() *cobra.Command {
	var alias string
	cmd := &cobra.Command{
		Use:   "keypasswd --keystore F --alias A",
		Short: "Change a JKS private key's password (keytool -keypasswd); PKCS#12 keys use the store password",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().StringVar(&alias, "alias", "", "private-key alias (default: the only one)")
	newPass := addPasswordFlags(cmd.Flags(), "new", "new key password")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, sp, _, err := f.load(a)
		if err != nil {
			return err
		}
		if ks.Format != keys.FormatJKS {
			return fmt.Errorf("keypasswd: keystore %q is %s: its keys use the store password, change it with storepasswd", f.path, ks.Format)
		}
		e, err := ks.PrivateKeyEntry(alias)
		if err != nil {
			return fmt.Errorf("keypasswd: keystore %q: %w", f.path, err)
		}
		n := 0
		for _, x := range ks.Entries {
			if x.IsPrivateKey() {
				n++
			}
		}
		if n > 1 {
			return fmt.Errorf("keypasswd: keystore %q has %d private keys; samlkeyd writes one key password for all of them", f.path, n)
		}
		np, err := newPass.value(a, "New key password")
		if err != nil {
			return err
		}
		if err := f.save(ks, sp, np); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Key password of alias %q in %s changed\n", e.Alias, f.path)
		return nil
	}
	return cmd
}

func (a *app) ksChangealiasCmd() *cobra.Command {
	var alias, dest string
	cmd := &cobra.Command{
		Use:   "changealias --keystore F --alias A --destalias B",
		Short: "Rename an entry (keytool -changealias)",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().StringVar(&alias, "alias", "", "current alias (required)")
	cmd.Flags().StringVar(&dest, "destalias", "", "new alias (required)")
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("destalias")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, sp, kp, err := f.load(a)
		if err != nil {
			return err
		}
		e, err := ks.Entry(alias)
		if err != nil {
			return fmt.Errorf("changealias: keystore %q: %w", f.path, err)
		}
		if other, err := ks.Entry(dest); err == nil && other != e {
			return fmt.Errorf("changealias: keystore %q alias %q: %w", f.path, dest, keys.ErrAliasExists)
		}
		old := e.Alias
		e.Alias = dest
		if err := f.save(ks, sp, kp); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "Alias %q renamed to %q in %s\n", old, dest, f.path)
		return nil
	}
	return cmd
}

// writeOut writes data to path (0644: certificates and CSRs are public), or
// to stdout when path is empty.
func writeOut(a *app, path string, data []byte) error {
	if path == "" {
		_, err := a.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
