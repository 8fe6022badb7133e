package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) auditCmd() *cobra.Command {
	return &cobra.Command{Use: "audit", Short: "Show the audit log (not built yet)", Hidden: true}
}
