package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{Use: "migrate", Short: "Migrate the store schema (not built yet)", Hidden: true}
}
