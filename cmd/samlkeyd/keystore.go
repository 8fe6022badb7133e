package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) keystoreCmd() *cobra.Command {
	return &cobra.Command{Use: "keystore", Short: "Manage keystore files as keytool does (not built yet)", Hidden: true}
}
