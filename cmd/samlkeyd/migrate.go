package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) migrateCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "migrate [--dry-run]",
		Short: "Bring the store's schema up to date (serve and every store command also do this)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.storeOptions()
			if err != nil {
				return err
			}
			o.Logger.Info("store", "store", o.Location())
			ms, err := store.Migrate(cmd.Context(), o, dryRun)
			if err != nil {
				return err
			}
			verb := "applied"
			if dryRun {
				verb = "pending"
			}
			for _, m := range ms {
				fmt.Fprintf(a.stdout, "%s %d: %s\n", verb, m.Version, m.Name)
			}
			if len(ms) == 0 {
				fmt.Fprintf(a.stdout, "up to date at schema version %d\n", len(store.Migrations()))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the pending migrations without applying them")
	return cmd
}
