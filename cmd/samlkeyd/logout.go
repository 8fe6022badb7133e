package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) logoutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Verify IdP logout messages offline, as POST /api/v1/logout-messages does",
	}
	cmd.AddCommand(a.logoutVerifyCmd())
	return cmd
}

func (a *app) logoutVerifyCmd() *cobra.Command {
	var idp, rawURL, postFile, requestID string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --idp NAME (--url URL | --post-file F)",
		Short: "Verify a LogoutRequest or LogoutResponse an IdP sent and print what it says",
		Long: `Verify a LogoutRequest or LogoutResponse an IdP sent to the SP's single
logout endpoint: --url takes the HTTP-Redirect URL as the browser requested it
(its query is verified as received, never re-encoded); --post-file takes the
HTTP-POST form fields as posted (SAMLRequest=…&RelayState=…; - reads stdin).
The signature must verify with the IdP's signing certificates (unless the IdP
has want_logout_signed: false), Issuer, Destination, IssueInstant,
NotOnOrAfter and InResponseTo (with --request-id) are checked. A refusal names
the failed check and exits 1. Replays are only detected within one process:
use the daemon's API for that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := a.logoutInput(rawURL, postFile)
			if err != nil {
				return err
			}
			return a.buildSnapshot(cmd.Context(), cmd, nil, true, func(snap *daemon.Snapshot, _ *store.Store) error {
				m, err := snap.Responses.VerifyLogout(cmd.Context(), idp, in, requestID)
				if me, ok := sp.IsMessageRefusal(err); ok {
					return fmt.Errorf("logout message refused: %s: %w", me.Check, me.Err)
				}
				if err != nil {
					return err
				}
				return a.printLogout(m, asJSON)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&idp, "idp", "", "IdP record name (required)")
	f.StringVar(&rawURL, "url", "", "the HTTP-Redirect URL as received")
	f.StringVar(&postFile, "post-file", "", "file of the HTTP-POST form fields as posted (SAMLRequest=…&RelayState=…), or - for stdin")
	f.StringVar(&requestID, "request-id", "", "the LogoutRequest ID a LogoutResponse must answer")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON answer")
	_ = cmd.MarkFlagRequired("idp")
	cmd.MarkFlagsMutuallyExclusive("url", "post-file")
	cmd.MarkFlagsOneRequired("url", "post-file")
	return cmd
}

// logoutInput reads the message a binding delivered: the raw query of
// rawURL, or the form fields in postFile.
func (a *app) logoutInput(rawURL, postFile string) (sp.LogoutInput, error) {
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return sp.LogoutInput{}, fmt.Errorf("--url: %w", err)
		}
		return sp.LogoutInput{Binding: sp.BindingRedirect, Query: u.RawQuery}, nil
	}
	var r io.Reader = a.stdin
	if postFile != "-" {
		f, err := os.Open(postFile)
		if err != nil {
			return sp.LogoutInput{}, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 2*sp.MaxResponseBase64))
	if err != nil {
		return sp.LogoutInput{}, fmt.Errorf("read %s: %w", postFile, err)
	}
	form, err := url.ParseQuery(strings.TrimSpace(string(b)))
	if err != nil {
		return sp.LogoutInput{}, fmt.Errorf("%s: not form fields as posted (SAMLRequest=…&RelayState=…): %w", postFile, err)
	}
	return sp.LogoutInput{Binding: sp.BindingPOST, Form: form}, nil
}

func (a *app) printLogout(m *sp.LogoutMessage, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	w := a.stdout
	fmt.Fprintf(w, "%s %s from %s (signed: %t)\n", m.Kind, m.ID, m.Issuer, m.Signed)
	for _, kv := range [][2]string{
		{"in_response_to", m.InResponseTo}, {"name_id", m.NameID}, {"name_id_format", m.NameIDFormat},
		{"session_indexes", strings.Join(m.SessionIndexes, ", ")}, {"status", m.Status}, {"relay_state", m.RelayState},
	} {
		if kv[1] != "" {
			fmt.Fprintf(w, "%s: %s\n", kv[0], kv[1])
		}
	}
	return nil
}
