package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) checkCmd() *cobra.Command {
	return &cobra.Command{Use: "check", Short: "Run and list mTLS health checks (not built yet)", Hidden: true}
}
