package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) rotateCmd() *cobra.Command {
	var use string
	var now bool
	cmd := &cobra.Command{
		Use:   "rotate --use signing|encryption [--now]",
		Short: "Run a key rollover step by hand (or publish and promote a new key at once with --now)",
		Long: `Run the rollover of one use as the daemon's schedule does: publish a next key
when the active one is within rotation.<use>.rotate_before of expiry, promote
it after publish_for plus max_wait, deactivate retired keys after
retire_after. With --now a new key is published and promoted at once; IdPs
that have not fetched the metadata since will reject the new signatures
until they do. A running daemon sees the change within seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := keys.Use(use)
			if u != keys.UseSigning && u != keys.UseEncryption {
				return fmt.Errorf("--use %q: want signing or encryption", use)
			}
			cfg, err := a.effectiveConfig(cmd)
			if err != nil {
				return err
			}
			st, err := a.openStoreFor(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			var steps []lifecycle.Step
			ran, err := st.WithLock(cmd.Context(), "rotation:"+use, func(ctx context.Context) error {
				var err error
				steps, err = daemon.Rotate(ctx, cfg, st, u, daemon.RotateOptions{Force: now, Logger: a.logger(cfg)})
				return err
			})
			for _, s := range steps {
				fmt.Fprintf(a.stdout, "%s %s: %s\n", s.Kind, s.KeyID, s.Reason)
			}
			if err != nil {
				return err
			}
			if !ran {
				return fmt.Errorf("another replica is rotating the %s key now", use)
			}
			if len(steps) == 0 {
				fmt.Fprintf(a.stdout, "nothing due for the %s key\n", use)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&use, "use", "", "signing or encryption (required)")
	cmd.Flags().BoolVar(&now, "now", false, "publish and promote a new key at once")
	_ = cmd.MarkFlagRequired("use")
	cmd.AddCommand(a.rotateStatusCmd())
	return cmd
}

func (a *app) rotateStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each rotated key's state and dates, and the record each keystore property selects",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				type row struct {
					store.Rotation
					Name     string    `json:"name"`
					NotAfter time.Time `json:"not_after"`
					Selected bool      `json:"selected"`
				}
				var rows []row
				for _, use := range []string{"signing", "encryption"} {
					prop, _ := store.UseProperty(use)
					selected, _, err := s.Property(cmd.Context(), prop)
					if err != nil {
						return err
					}
					rots, err := s.Rotations(cmd.Context(), use)
					if err != nil {
						return err
					}
					seen := false
					for _, r := range rots {
						rec, err := s.Record(cmd.Context(), r.RecordID)
						if err != nil {
							return err
						}
						seen = seen || r.RecordID == selected
						rows = append(rows, row{Rotation: r, Name: rec.Name, NotAfter: rec.NotAfter, Selected: r.RecordID == selected})
					}
					if !seen && selected != "" {
						rec, err := s.Record(cmd.Context(), selected)
						if err != nil {
							return err
						}
						rows = append(rows, row{Rotation: store.Rotation{RecordID: selected, Use: use, State: store.RotationActive},
							Name: rec.Name, NotAfter: rec.NotAfter, Selected: true})
					}
				}
				fetches, err := s.MetadataFetches(cmd.Context())
				if err != nil {
					return err
				}
				type idpRow struct {
					IdP       string    `json:"idp"`
					LastFetch time.Time `json:"last_fetch"`
					SeenNext  []string  `json:"seen_next"`     // uses whose next key the IdP was served
					Behind    []string  `json:"not_seen_next"` // uses whose next key it has not fetched yet
				}
				var idps []idpRow
				for _, f := range fetches {
					ir := idpRow{IdP: f.IdP, LastFetch: f.At}
					for _, r := range rows {
						if r.State != store.RotationNext {
							continue
						}
						rec, err := s.Record(cmd.Context(), r.RecordID)
						if err != nil {
							return err
						}
						if ok, _ := daemon.IdPsCaughtUp([]store.MetadataFetch{f}, rec, r.PublishedAt); ok {
							ir.SeenNext = append(ir.SeenNext, r.Use)
						} else {
							ir.Behind = append(ir.Behind, r.Use)
						}
					}
					idps = append(idps, ir)
				}
				if asJSON {
					if rows == nil {
						rows = []row{}
					}
					if idps == nil {
						idps = []idpRow{}
					}
					return json.NewEncoder(a.stdout).Encode(map[string]any{"keys": rows, "idps": idps})
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USE\tSTATE\tRECORD\tNAME\tPUBLISHED\tPROMOTED\tRETIRED\tNOT AFTER")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Use, r.State, r.RecordID, r.Name,
						date(r.PublishedAt), date(r.PromotedAt), date(r.RetiredAt), date(r.NotAfter))
				}
				if len(idps) > 0 {
					fmt.Fprintln(tw, "\nIDP\tLAST METADATA FETCH\tHAS NOT SEEN THE NEXT KEY OF")
					for _, i := range idps {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", i.IdP, date(i.LastFetch), dash(strings.Join(i.Behind, ", ")))
					}
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
