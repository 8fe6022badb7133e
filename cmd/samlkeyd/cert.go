package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) certCmd() *cobra.Command {
	return &cobra.Command{Use: "cert", Short: "Manage certificate records (not built yet)", Hidden: true}
}
