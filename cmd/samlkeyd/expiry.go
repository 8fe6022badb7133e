package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) expiryCmd() *cobra.Command {
	var within string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "expiry [--within 90d]",
		Short: "List every certificate the daemon knows and when it expires, soonest first",
		Long: `List every certificate samlkeyd knows — each certificate of every active
record's chain (keystores and trust-store records), the IdPs' signing
certificates, and the server certificates the mTLS checks saw on their last
run — with its expiry, soonest first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := parseDays(within)
			if err != nil {
				return fmt.Errorf("--within %q: %w", within, err)
			}
			return a.withSnapshot(cmd.Context(), cmd, nil, func(snap *daemon.Snapshot, st *store.Store) error {
				rec := mtls.StoreRecorder{Store: st}
				var last []*mtls.Result
				for _, c := range snap.Checks {
					r, err := rec.LastCheck(cmd.Context(), c.Name())
					if err != nil {
						return err
					}
					last = append(last, r)
				}
				now := time.Now()
				list := snap.Expiries(last, now, d)
				if asJSON {
					if list == nil {
						list = []daemon.Expiry{}
					}
					enc := json.NewEncoder(a.stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(list)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NOT AFTER\tIN\tSOURCE\tOWNER\tUSE\tSUBJECT")
				for _, e := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.NotAfter.UTC().Format(time.RFC3339), untilText(e.NotAfter.Sub(now)),
						e.Source, e.Owner, dash(e.Use), e.Subject)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&within, "within", "", "only what expires within this long, in days (90d) or a Go duration (2160h); default everything")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: [{source, owner, record_id, use, subject, sha256, not_after}]")
	return cmd
}

// parseDays reads "90d" as 90 days, or a Go duration; "" is 0.
func parseDays(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("want a whole number of days, like 90d")
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want days (90d) or a duration (2160h)")
	}
	return d, nil
}

func untilText(d time.Duration) string {
	days := int(d.Hours() / 24)
	if d < 0 {
		return fmt.Sprintf("expired %dd ago", -days)
	}
	return fmt.Sprintf("%dd", days)
}
