package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) metadataCmd() *cobra.Command {
	return &cobra.Command{Use: "metadata", Short: "Print SP metadata and certificates offline (not built yet)", Hidden: true}
}
