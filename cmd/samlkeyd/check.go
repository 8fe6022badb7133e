package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run and list the outbound mTLS health checks",
	}
	cmd.AddCommand(a.checkRunCmd(), a.checkListCmd(), a.checkHistoryCmd())
	return cmd
}

func (a *app) checkRunCmd() *cobra.Command {
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "run NAME... | --all",
		Short: "Run checks now, print each result and diagnosis, and record them (exit 0 only if all passed)",
		RunE: func(cmd *cobra.Command, names []string) error {
			if all == (len(names) > 0) {
				return errors.New("name the checks to run, or pass --all")
			}
			return a.withSnapshot(cmd.Context(), cmd, nil, func(snap *daemon.Snapshot, st *store.Store) error {
				checks, err := pickChecks(snap.Checks, names)
				if err != nil {
					return err
				}
				rec := mtls.StoreRecorder{Store: st}
				failed := 0
				for _, c := range checks {
					res := c.Run(cmd.Context())
					if err := rec.RecordCheck(context.WithoutCancel(cmd.Context()), res); err != nil {
						return err
					}
					if !res.OK {
						failed++
					}
					if err := a.printResult(res, asJSON); err != nil {
						return err
					}
				}
				if failed > 0 {
					return &exitError{code: 1, err: fmt.Errorf("%d of %d checks failed", failed, len(checks))}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "run every configured check")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each result as JSON")
	return cmd
}

func pickChecks(checks []*mtls.Check, names []string) ([]*mtls.Check, error) {
	if len(names) == 0 {
		if len(checks) == 0 {
			return nil, errors.New("no checks are configured (checks: in the config)")
		}
		return checks, nil
	}
	byName := map[string]*mtls.Check{}
	for _, c := range checks {
		byName[c.Name()] = c
	}
	out := make([]*mtls.Check, 0, len(names))
	for _, n := range names {
		c, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("check %q: %w (samlkeyd check list)", n, mtls.ErrUnknownCheck)
		}
		out = append(out, c)
	}
	return out, nil
}

func (a *app) printResult(r *mtls.Result, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(a.stdout).Encode(r)
	}
	_, err := fmt.Fprint(a.stdout, r.Summary())
	return err
}

func (a *app) checkListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the configured checks with their schedule and last recorded result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSnapshot(cmd.Context(), cmd, nil, func(snap *daemon.Snapshot, st *store.Store) error {
				rec := mtls.StoreRecorder{Store: st}
				type row struct {
					Name     string       `json:"name"`
					URL      string       `json:"url"`
					Schedule string       `json:"schedule"`
					Last     *mtls.Result `json:"last,omitempty"`
					Error    string       `json:"error,omitempty"` // the check cannot be built: not scheduled
				}
				rows := make([]row, 0, len(snap.Config.Checks))
				built := map[string]*mtls.Check{}
				for _, c := range snap.Checks {
					built[c.Name()] = c
				}
				broken := map[string]string{}
				for _, c := range snap.Failed() {
					if c.Kind == daemon.KindCheck {
						broken[c.Name] = c.Error
					}
				}
				for _, cc := range snap.Config.Checks {
					r := row{Name: cc.Name, URL: cc.URL, Schedule: cc.Schedule, Error: broken[cc.Name]}
					if c := built[cc.Name]; c != nil {
						last, err := rec.LastCheck(cmd.Context(), c.Name())
						if err != nil {
							return err
						}
						r.URL, r.Schedule, r.Last = c.URL(), c.Spec(), last
					}
					rows = append(rows, r)
				}
				if asJSON {
					return json.NewEncoder(a.stdout).Encode(rows)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tURL\tSCHEDULE\tLAST RUN\tOUTCOME")
				for _, r := range rows {
					when, outcome := "never", "-"
					if r.Error != "" {
						outcome = "cannot be built: " + r.Error
					}
					if r.Last != nil {
						when = r.Last.Start.UTC().Format(time.RFC3339)
						outcome = "ok"
						if !r.Last.OK {
							outcome = "failed (" + r.Last.Stage + ")"
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.URL, r.Schedule, when, outcome)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) checkHistoryCmd() *cobra.Command {
	var asJSON bool
	var n int
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "Show the recorded results of a check, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				results, err := mtls.StoreRecorder{Store: st}.History(cmd.Context(), args[0], n)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(a.stdout).Encode(results)
				}
				if len(results) == 0 {
					_, err := fmt.Fprintf(a.stdout, "no results recorded for check %q\n", args[0])
					return err
				}
				for _, r := range results {
					fmt.Fprintf(a.stdout, "%s  ", r.Start.UTC().Format(time.RFC3339))
					if err := a.printResult(r, false); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 20, "how many results (0: all kept)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
