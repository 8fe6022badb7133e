package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// maxResponseFile caps the file `response verify` reads.
const maxResponseFile = sp.MaxResponseBase64 + 1

func (a *app) responseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "response",
		Short: "Decrypt and validate IdP responses offline, as POST /api/v1/responses does",
	}
	cmd.AddCommand(a.responseVerifyCmd())
	return cmd
}

func (a *app) responseVerifyCmd() *cobra.Command {
	var idp, file, requestID string
	cmd := &cobra.Command{
		Use:   "verify --idp NAME --file F",
		Short: "Verify a SAMLResponse (base64, as posted to the ACS; - reads stdin) and print its assertion as JSON",
		Long: `Verify a SAMLResponse offline: decrypt it with the published encryption keys,
check its signatures against the IdP's certificates, its Destination,
InResponseTo (with --request-id), Audience and time conditions, and print the
assertion as JSON. A refusal names the failed check and exits 1. Replays are
only detected within one process: use the daemon's API for that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = a.stdin
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			b, err := io.ReadAll(io.LimitReader(r, maxResponseFile))
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			return a.buildSnapshot(cmd.Context(), cmd, nil, true, func(snap *daemon.Snapshot, _ *store.Store) error {
				as, err := snap.Responses.Verify(cmd.Context(), idp, strings.TrimSpace(string(b)), requestID)
				var re *sp.ResponseError
				if errors.As(err, &re) && re.Check == sp.CheckUnknownIdP { // a federation entity id (idp_sources)
					if _, v, name, ferr := federatedIdP(cmd.Context(), snap, idp, err); ferr == nil {
						as, err = v.Verify(cmd.Context(), name, strings.TrimSpace(string(b)), requestID)
					}
				}
				if errors.As(err, &re) {
					return fmt.Errorf("response %s refused: %s: %w", file, re.Check, re.Err)
				}
				if err != nil {
					return err
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(as)
			})
		},
	}
	cmd.Flags().StringVar(&idp, "idp", "", "IdP record name, or the entity id of an IdP from idp_sources (required)")
	cmd.Flags().StringVar(&file, "file", "", "file holding the base64 SAMLResponse, or - for stdin (required)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "the AuthnRequest ID the response must answer")
	_ = cmd.MarkFlagRequired("idp")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
