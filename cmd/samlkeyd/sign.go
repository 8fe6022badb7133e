package main

import "github.com/spf13/cobra"

// PLACEHOLDER: replaced by the package owner's real command.
func (a *app) signCmd() *cobra.Command {
	return &cobra.Command{Use: "sign", Short: "Sign AuthnRequest and LogoutRequest messages (not built yet)", Hidden: true}
}
