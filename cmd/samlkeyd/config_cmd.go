package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) configCmd() *cobra.Command {
	return &cobra.Command{Use: "config", Short: "Validate and print the configuration (not built yet)", Hidden: true}
}
