package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) serveCmd() *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "Run the daemon (not built yet)", Hidden: true}
}
