package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/daemon"
)

// componentReport is what `samlkeyd status --json` prints: the shape of
// GET /readyz.
type componentReport struct {
	Ready      bool                     `json:"ready"`
	Components []daemon.ComponentStatus `json:"components"`
}

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Build every component as serve would, offline against the store, and show each one's state (exit 1 if any failed)",
		Long: "status opens the store, builds the core (keys, metadata, signing), every IdP, protocol profile,\n" +
			"check, rotation policy and the alert sinks as `samlkeyd serve` would, and prints each one ok or\n" +
			"failed with its reason: what GET /readyz would answer. It does not fetch metadata_url documents.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			r := a.buildComponents(cmd.Context(), cfg)
			if err := a.printComponents(r, asJSON); err != nil {
				return err
			}
			return componentsExit(r)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, as GET /readyz answers")
	return cmd
}

// buildComponents opens the store and builds every component as serve
// would; a store that does not open or a core that does not build are
// failed components too.
func (a *app) buildComponents(ctx context.Context, cfg *config.Config) componentReport {
	now := time.Now().UTC()
	failed := func(kind, name string, err error) daemon.ComponentStatus {
		return daemon.ComponentStatus{Kind: kind, Name: name, Error: err.Error(), Since: now}
	}
	st, err := a.openStoreFor(ctx, cfg)
	if err != nil {
		return componentReport{Components: []daemon.ComponentStatus{failed(daemon.KindStore, "store", err)}}
	}
	defer st.Close()
	storeOK := daemon.ComponentStatus{Kind: daemon.KindStore, Name: "store", OK: true, Since: now}
	snap, err := daemon.Build(ctx, cfg, st, daemon.BuildOptions{Logger: a.logger(cfg)})
	if err != nil {
		return componentReport{Components: []daemon.ComponentStatus{failed(daemon.KindCore, "core", err), storeOK}}
	}
	return componentReport{Ready: true, Components: append([]daemon.ComponentStatus{storeOK}, snap.Components...)}
}

func (a *app) printComponents(r componentReport, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(a.stdout).Encode(r)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSTATE\tERROR")
	for _, c := range r.Components {
		state := "ok"
		if !c.OK {
			state = "failed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Kind, c.Name, state, c.Error)
	}
	return tw.Flush()
}

// componentsExit is exit status 1 naming how many components failed.
func componentsExit(r componentReport) error {
	n := 0
	for _, c := range r.Components {
		if !c.OK {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	noun := "components"
	if n == 1 {
		noun = "component"
	}
	return &exitError{code: 1, err: fmt.Errorf("%d %s failed", n, noun)}
}

// storeExists says whether the store cfg names is there to check: a
// database URL always, a data directory when it exists.
func storeExists(cfg *config.Config) bool {
	if cfg.DatabaseURL != "" {
		return true
	}
	_, err := os.Stat(cfg.Data)
	return !errors.Is(err, os.ErrNotExist)
}

// validateComponents builds every component against the store and prints
// each failed one (kind, name, field path and record in its error); it is
// what `config validate` adds to the config's own checks.
func (a *app) validateComponents(ctx context.Context, cfg *config.Config) error {
	r := a.buildComponents(ctx, cfg)
	for _, c := range r.Components {
		if !c.OK {
			fmt.Fprintf(a.stdout, "%s %q: %s\n", c.Kind, c.Name, c.Error)
		}
	}
	return componentsExit(r)
}
