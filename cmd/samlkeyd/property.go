package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) propertyCmd() *cobra.Command {
	return &cobra.Command{Use: "property", Short: "Get and set system properties (not built yet)", Hidden: true}
}
