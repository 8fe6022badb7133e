package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/config"
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
it after publish_for once every IdP has fetched it (after publish_for plus
max_wait regardless), deactivate retired keys after retire_after. With --now a new key is published and promoted at once; IdPs
that have not fetched the metadata since will reject the new signatures
until they do. A running daemon sees the change within seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withRotationStore(cmd, use, func(cfg *config.Config, st *store.Store, u keys.Use) error {
				steps, err := lifecycle.Rotate(cmd.Context(), cfg, st, u, lifecycle.Options{Force: now, Logger: a.logger(cfg)})
				for _, s := range steps {
					fmt.Fprintf(a.stdout, "%s %s: %s\n", s.Kind, s.KeyID, s.Reason)
				}
				if err != nil {
					return err
				}
				if len(steps) == 0 {
					fmt.Fprintf(a.stdout, "nothing due for the %s key\n", use)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&use, "use", "", "signing or encryption (required)")
	cmd.Flags().BoolVar(&now, "now", false, "publish and promote a new key at once")
	_ = cmd.MarkFlagRequired("use")
	cmd.AddCommand(a.rotateStatusCmd(), a.rotatePublishCmd(), a.rotatePromoteCmd(), a.rotateCancelCmd())
	return cmd
}

// rotateByHand runs one step of the staged rollover by hand (lifecycle
// Publish, Promote or Cancel) on the store the config names.
func (a *app) rotateByHand(cmd *cobra.Command, use string, o lifecycle.ManualOptions,
	step func(cmd *cobra.Command, cfg *config.Config, st lifecycle.Store, u keys.Use, o lifecycle.ManualOptions) (string, error)) error {
	return a.withRotationStore(cmd, use, func(cfg *config.Config, st *store.Store, u keys.Use) error {
		o.Actor, o.Logger = actor(), a.logger(cfg)
		msg, err := step(cmd, cfg, st, u, o)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, msg)
		return nil
	})
}

// withRotationStore checks --use, loads the effective config (for the
// rotation policies) and runs fn with the store it names.
func (a *app) withRotationStore(cmd *cobra.Command, use string, fn func(cfg *config.Config, st *store.Store, u keys.Use) error) error {
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
	return fn(cfg, st, u)
}

func (a *app) rotatePublishCmd() *cobra.Command {
	var use, record string
	var replace bool
	cmd := &cobra.Command{
		Use:   "publish --use signing|encryption [--record ID|NAME] [--replace]",
		Short: "Publish a next key (generated, or a record you bring) in metadata without using it yet",
		Long: `Publish a next key of one use: generated under rotation.<use> (or the defaults:
RSA 2048, one year) or, with --record, an existing record you bring (active,
with a private key; RSA for encryption; e.g. CA-signed). Metadata lists it
after the current key; a next signing key does not sign until it is
promoted; a next encryption key decrypts at once. With --replace
(encryption; or rotation.encryption.publish_mode: replace) metadata lists
the next encryption certificate instead of the current one, for IdPs that
accept only one (ADFS); both keep decrypting. Then watch samlkeyd rotate
status until every IdP has fetched it, and run samlkeyd rotate promote.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.rotateByHand(cmd, use, lifecycle.ManualOptions{Record: record, Replace: replace},
				func(cmd *cobra.Command, cfg *config.Config, st lifecycle.Store, u keys.Use, o lifecycle.ManualOptions) (string, error) {
					rec, err := lifecycle.Publish(cmd.Context(), cfg, st, u, o)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("published %s (%q) as the next %s key, not after %s; promote it once every IdP has fetched the metadata (samlkeyd rotate status)",
						rec.ID, rec.Name, u, date(rec.NotAfter)), nil
				})
		},
	}
	cmd.Flags().StringVar(&use, "use", "", "signing or encryption (required)")
	cmd.Flags().StringVar(&record, "record", "", "publish this existing record (id or name) instead of generating a key")
	cmd.Flags().BoolVar(&replace, "replace", false, "encryption: list the next certificate instead of the current one in metadata (ADFS)")
	_ = cmd.MarkFlagRequired("use")
	return cmd
}

func (a *app) rotatePromoteCmd() *cobra.Command {
	var use string
	var force bool
	cmd := &cobra.Command{
		Use:   "promote --use signing|encryption [--force]",
		Short: "Make the next key the current one (refused while an IdP has not fetched the metadata since it was published)",
		Long: `Promote the next key of one use: the keystore property points at it and the
old key is retired (still published and decrypting for retire_after). Refused
(exit 1) while an IdP that fetched the metadata before has not fetched it
since the next key was published, naming each with its last fetch; --force
promotes anyway (those IdPs reject the new signatures until they re-fetch).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.rotateByHand(cmd, use, lifecycle.ManualOptions{Force: force},
				func(cmd *cobra.Command, cfg *config.Config, st lifecycle.Store, u keys.Use, o lifecycle.ManualOptions) (string, error) {
					id, err := lifecycle.Promote(cmd.Context(), cfg, st, u, o)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("promoted %s: it is the current %s key; the previous one is retired, kept for retire_after (samlkeyd rotate status shows until when)", id, u), nil
				})
		},
	}
	cmd.Flags().StringVar(&use, "use", "", "signing or encryption (required)")
	cmd.Flags().BoolVar(&force, "force", false, "promote even while some IdP has not fetched the metadata since publication")
	_ = cmd.MarkFlagRequired("use")
	return cmd
}

func (a *app) rotateCancelCmd() *cobra.Command {
	var use string
	cmd := &cobra.Command{
		Use:   "cancel --use signing|encryption",
		Short: "Withdraw a next key that was not promoted",
		Long: `Withdraw the next key of one use before its promotion: metadata stops
listing it. A generated key's record is deactivated; a record you brought
stays active, no longer published.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.rotateByHand(cmd, use, lifecycle.ManualOptions{},
				func(cmd *cobra.Command, cfg *config.Config, st lifecycle.Store, u keys.Use, o lifecycle.ManualOptions) (string, error) {
					id, err := lifecycle.Cancel(cmd.Context(), cfg, st, u, o)
					if err != nil {
						return "", err
					}
					return fmt.Sprintf("withdrew the next %s key %s", u, id), nil
				})
		},
	}
	cmd.Flags().StringVar(&use, "use", "", "signing or encryption (required)")
	_ = cmd.MarkFlagRequired("use")
	return cmd
}

func (a *app) rotateStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each rotated key's state and dates, the record each keystore property selects, when the next steps are due, and which IdPs have fetched the next key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.effectiveConfig(cmd)
			if err != nil {
				return err
			}
			st, err := a.openStoreFor(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			status, err := lifecycle.ReadStatus(cmd.Context(), cfg, st, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(statusJSON(status))
			}
			return a.printStatus(status)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// idpRow is one IdP in rotate status: when it last fetched the metadata
// and, per use with a next key, whether it was served that key.
type idpRow struct {
	IdP       string    `json:"idp"`
	LastFetch time.Time `json:"last_fetch"`
	SeenNext  []string  `json:"seen_next"`     // uses whose next key the IdP was served
	Behind    []string  `json:"not_seen_next"` // uses whose next key it has not fetched yet
}

// statusJSON is rotate status --json: every use's keys in one list, the
// IdPs by name, and the uses' next publish and promotion times.
func statusJSON(s *lifecycle.Status) map[string]any {
	rows := []lifecycle.KeyStatus{}
	for _, u := range s.Uses {
		rows = append(rows, u.Keys...)
	}
	return map[string]any{"keys": rows, "idps": idpRows(s), "uses": s.Uses}
}

func idpRows(s *lifecycle.Status) []idpRow {
	rows := []idpRow{}
	at := map[string]int{}
	for _, u := range s.Uses {
		for _, f := range u.IdPs {
			i, ok := at[f.IdP]
			if !ok {
				i, at[f.IdP] = len(rows), len(rows)
				rows = append(rows, idpRow{IdP: f.IdP, LastFetch: f.LastFetch})
			}
			switch {
			case !u.HasNext():
			case f.FetchedNext:
				rows[i].SeenNext = append(rows[i].SeenNext, string(u.Use))
			default:
				rows[i].Behind = append(rows[i].Behind, string(u.Use))
			}
		}
	}
	return rows
}

func (a *app) printStatus(s *lifecycle.Status) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USE\tSTATE\tRECORD\tNAME\tPUBLISHED\tPROMOTED\tRETIRED\tNOT AFTER\tIN METADATA")
	for _, u := range s.Uses {
		for _, r := range u.Keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Use, r.State, r.RecordID, r.Name,
				date(r.PublishedAt), date(r.PromotedAt), date(r.RetiredAt), date(r.NotAfter), inMetadata(r))
		}
	}
	fmt.Fprintln(tw, "\nUSE\tROTATION\tNEXT KEY DUE\tNEXT PROMOTION DUE")
	for _, u := range s.Uses {
		policy := "not configured"
		switch {
		case u.Problem != "":
			policy = u.Problem
		case u.Configured:
			policy = "configured"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Use, policy, date(u.NextPublish), date(u.NextPromotion))
	}
	if idps := idpRows(s); len(idps) > 0 {
		fmt.Fprintln(tw, "\nIDP\tLAST METADATA FETCH\tHAS NOT SEEN THE NEXT KEY OF")
		for _, i := range idps {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", i.IdP, date(i.LastFetch), dash(strings.Join(i.Behind, ", ")))
		}
	}
	return tw.Flush()
}

// inMetadata says whether metadata lists a key and, for a retired one, until
// when it stays.
func inMetadata(k lifecycle.KeyStatus) string {
	until := ""
	if !k.KeptUntil.IsZero() {
		until = " until " + date(k.KeptUntil)
	}
	switch {
	case !k.Kept:
		return "no"
	case !k.Listed:
		return "no (decrypts" + until + ")"
	case until != "":
		return "yes," + until
	}
	return "yes"
}

func date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
