package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/internal/buildinfo"
)

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, VCS revision and time, Go version, crypto backend and FIPS 140-3 mode",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := buildinfo.Read()
			if asJSON {
				return writeJSON(a.stdout, i)
			}
			_, err := fmt.Fprint(a.stdout, i.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON object: {version, revision, time, modified, go_version, crypto_backend, fips140_enabled}")
	return cmd
}
