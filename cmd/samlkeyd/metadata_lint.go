package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/metadata"
)

func (a *app) metadataLintCmd() *cobra.Command {
	var names []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "lint [--profile incommon|edugain|kantara]",
		Short: "Check the metadata serve publishes against federation profiles (exit 1 on an error, 0 with warnings only)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var profiles []metadata.Profile
			for _, n := range names {
				p, err := metadata.ParseProfile(n)
				if err != nil {
					return fmt.Errorf("--profile: %w", err)
				}
				profiles = append(profiles, p)
			}
			snap, err := a.snapshot(cmd.Context(), cmd, nil)
			if err != nil {
				return err
			}
			pub := snap.Metadata
			findings, err := metadata.Lint(pub.Metadata(), metadata.LintOptions{Profiles: profiles, Now: pub.BuiltAt()})
			if err != nil {
				return err
			}
			if err := a.printFindings(findings, asJSON); err != nil {
				return err
			}
			if n := countErrors(findings); n > 0 {
				return &exitError{code: 1, err: fmt.Errorf("metadata lint: %d error(s), %d warning(s)", n, len(findings)-n)}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&names, "profile", nil, "profile to check: incommon, edugain or kantara (repeat or comma-separate; default all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the findings as a JSON array")
	return cmd
}

func (a *app) printFindings(findings []metadata.Finding, asJSON bool) error {
	if asJSON {
		if findings == nil {
			findings = []metadata.Finding{}
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(findings)
	}
	if len(findings) == 0 {
		_, err := fmt.Fprintln(a.stdout, "no findings")
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, f := range findings {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", f.Severity, f.Profile, f.Rule, f.Message)
		fmt.Fprintf(w, "\t\t\trule: %s\n", f.Source)
	}
	n := countErrors(findings)
	fmt.Fprintf(w, "%d error(s), %d warning(s)\n", n, len(findings)-n)
	return w.Flush()
}

func countErrors(findings []metadata.Finding) int {
	n := 0
	for _, f := range findings {
		if f.Severity == metadata.SeverityError {
			n++
		}
	}
	return n
}
