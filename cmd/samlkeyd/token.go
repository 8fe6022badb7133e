package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens kept in the store (beside api.tokens in the config)",
		Long: "API tokens kept in the store, stored only as their SHA-256. A running daemon and its replicas\n" +
			"load a change within seconds. Tokens in the config's api.tokens keep working.",
	}
	cmd.AddCommand(a.tokenCreateCmd(), a.tokenListCmd(), a.tokenRevokeCmd())
	return cmd
}

func (a *app) tokenCreateCmd() *cobra.Command {
	var name, expires string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "create --name N --scopes sign[,admin] [--expires 90d]",
		Short: "Create a token and print it once on stdout (only its SHA-256 is stored)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var exp time.Time
			if expires != "" {
				d, err := parseLifetime(expires)
				if err != nil {
					return fmt.Errorf("token create: --expires: %w", err)
				}
				exp = time.Now().Add(d).UTC().Truncate(time.Second)
			}
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				tok, err := s.CreateToken(cmd.Context(), actor(), store.NewToken{Name: name, Scopes: scopes, Expires: exp}, nil)
				if err != nil {
					return err
				}
				defer tok.Zero()
				// The token alone on stdout, so that it can be captured:
				// token=$(samlkeyd token create …).
				if _, err := fmt.Fprintf(a.stdout, "%s\n", tok.Reveal()); err != nil {
					return err
				}
				until := "never expires"
				if !exp.IsZero() {
					until = "expires " + exp.Format(time.RFC3339)
				}
				fmt.Fprintf(a.stderr, "token %q created (scopes %s, %s); it is shown only this once\n", name, strings.Join(scopes, ","), until)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "token name: the actor in logs and the audit log (required)")
	cmd.Flags().StringSliceVar(&scopes, "scopes", nil, "scopes: sign (sign requests, verify responses), admin (rotations, checks) (required)")
	cmd.Flags().StringVar(&expires, "expires", "", "lifetime: days (90d) or a Go duration (2160h); default never")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scopes")
	return cmd
}

// parseLifetime reads "90d" (days) or a Go duration ("2160h"); it must be
// positive.
func parseLifetime(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days > 100*366 {
			return 0, fmt.Errorf("%q: want days such as 90d, or a duration such as 2160h", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want days such as 90d, or a duration such as 2160h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}

func (a *app) tokenListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the store's tokens: name, scopes, created, last used, expires, status (never the token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				toks, err := s.Tokens(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if toks == nil {
						toks = []store.Token{}
					}
					return writeJSON(a.stdout, toks)
				}
				now := time.Now()
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tSCOPES\tCREATED\tLAST USED\tEXPIRES\tSTATUS")
				for _, t := range toks {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Scopes, ","), fmtOpt(t.Created, "-"),
						fmtOpt(t.LastUsed, "never"), fmtOpt(t.Expires, "never"), tokenStatus(t, now))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array: [{name, scopes, created, last_used, expires, revoked}]")
	return cmd
}

// tokenStatus is "active", "expired" or "revoked".
func tokenStatus(t store.Token, now time.Time) string {
	switch {
	case !t.Revoked.IsZero():
		return "revoked"
	case !t.Valid(now):
		return "expired"
	}
	return "active"
}

// fmtOpt formats t as RFC 3339, or none for the zero time.
func fmtOpt(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func (a *app) tokenRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: a running daemon refuses it within seconds",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				if err := s.RevokeToken(cmd.Context(), actor(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "token %q revoked\n", args[0])
				return nil
			})
		},
	}
}
