package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/keys"
)

// certJSON is one certificate in `keystore list --json`.
type certJSON struct {
	Subject            string    `json:"subject"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	SHA256             string    `json:"sha256"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	Key                string    `json:"key"`
}

// entryJSON is one entry in `keystore list --json`.
type entryJSON struct {
	Alias   string     `json:"alias"`
	Type    string     `json:"type"` // PrivateKeyEntry or trustedCertEntry, as keytool names them
	Created *time.Time `json:"created,omitempty"`
	Chain   []certJSON `json:"chain"`
}

func (a *app) ksListCmd() *cobra.Command {
	var verbose, asJSON bool
	cmd := &cobra.Command{
		Use:   "list --keystore F [-v] [--json]",
		Short: "List a keystore's entries (keytool -list)",
		Args:  cobra.NoArgs,
	}
	f := addKSFlags(cmd)
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show every certificate of every chain")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: [{alias, type, created, chain: [{subject, issuer, serial, not_before, not_after, sha256, signature_algorithm, key}]}]")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ks, err := f.loadChains(a)
		if err != nil {
			return err
		}
		if asJSON {
			list := make([]entryJSON, 0, len(ks.Entries))
			for _, e := range ks.Entries {
				ej := entryJSON{Alias: e.Alias, Type: entryType(e)}
				if !e.Created.IsZero() {
					c := e.Created
					ej.Created = &c
				}
				for _, c := range e.Chain {
					ej.Chain = append(ej.Chain, certJSON{
						Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
						NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SHA256: keys.FingerprintSHA256(c),
						SignatureAlgorithm: c.SignatureAlgorithm.String(), Key: keyDesc(c),
					})
				}
				list = append(list, ej)
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		printList(a.stdout, ks, verbose, time.Now())
		return nil
	}
	return cmd
}

// printList prints entries in keytool -list's layout. An entry's date is
// its creation date; an entry without one (PKCS#12 files not written by
// keytool, trusted PKCS#12 entries) shows now's date, as keytool shows the
// date it loaded the file.
func printList(w io.Writer, ks *keys.Keystore, verbose bool, now time.Time) {
	fmt.Fprintf(w, "Keystore type: %s\n\n", strings.ToUpper(string(ks.Format)))
	fmt.Fprintf(w, "Your keystore contains %d %s\n\n", len(ks.Entries), plural(len(ks.Entries), "entry", "entries"))
	for _, e := range ks.Entries {
		created := now.UTC().Format("Jan 2, 2006")
		if !e.Created.IsZero() {
			created = e.Created.UTC().Format("Jan 2, 2006")
		}
		if !verbose {
			fmt.Fprintf(w, "%s, %s, %s,\nCertificate fingerprint (SHA-256): %s\n", e.Alias, created, entryType(e), keys.SHA256Fingerprint(e.Chain[0]).Colon())
			continue
		}
		fmt.Fprintf(w, "Alias name: %s\nCreation date: %s\n", e.Alias, created)
		fmt.Fprintf(w, "Entry type: %s\n", entryType(e))
		if entryType(e) == "PrivateKeyEntry" {
			fmt.Fprintf(w, "Certificate chain length: %d\n", len(e.Chain))
		}
		for i, c := range e.Chain {
			if entryType(e) == "PrivateKeyEntry" {
				fmt.Fprintf(w, "Certificate[%d]:\n", i+1)
			}
			fmt.Fprintf(w, "Owner: %s\nIssuer: %s\nSerial number: %s\n", c.Subject, c.Issuer, c.SerialNumber.Text(16))
			fmt.Fprintf(w, "Valid from: %s until: %s\n", c.NotBefore.UTC().Format(time.RFC1123), c.NotAfter.UTC().Format(time.RFC1123))
			fmt.Fprintf(w, "Certificate fingerprints:\n\t SHA256: %s\n", keys.SHA256Fingerprint(c).Colon())
			fmt.Fprintf(w, "Signature algorithm name: %s\nSubject Public Key Algorithm: %s\n", c.SignatureAlgorithm, keyDesc(c))
		}
		fmt.Fprint(w, "\n\n*******************************************\n*******************************************\n\n\n")
	}
}

func entryType(e *keys.Entry) string {
	if e.IsPrivateKey() || e.Sealed {
		return "PrivateKeyEntry"
	}
	return "trustedCertEntry"
}

// keyDesc describes a certificate's public key: "2048-bit RSA key".
func keyDesc(c *x509.Certificate) string { return keys.KeyDescription(c.PublicKey) }
