package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) propertyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "property",
		Short: "Read and set system properties (" + store.PropSigningKeystore + ", " + store.PropEncryptionKeystore + ", …)",
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the properties that are set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				props, err := s.Properties(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					if props == nil {
						props = []store.Property{}
					}
					return writeJSON(a.stdout, props)
				}
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tVALUE")
				for _, p := range props {
					fmt.Fprintf(w, "%s\t%s\n", p.Name, p.Value)
				}
				return w.Flush()
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of properties")
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a property's value (exits 1 when it is not set)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				v, ok, err := s.Property(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("property %q: %w", args[0], errNotSet)
				}
				fmt.Fprintln(a.stdout, v)
				return nil
			})
		},
	}
	set := &cobra.Command{
		Use:   "set NAME VALUE",
		Short: "Set a property; an empty VALUE clears it. A keystore property needs the id of an active keystore record",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(s *store.Store) error {
				if err := s.SetProperty(cmd.Context(), actor(), args[0], args[1]); err != nil {
					return err
				}
				if args[1] == "" {
					fmt.Fprintf(a.stdout, "%s cleared\n", args[0])
				} else {
					fmt.Fprintf(a.stdout, "%s=%s\n", args[0], args[1])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(list, get, set)
	return cmd
}
