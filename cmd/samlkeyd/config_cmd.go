package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/config"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate and print the configuration",
		Long: "The configuration is built from defaults, the --config file, SAMLKEYD_* environment variables\n" +
			"and the flags you set, in that order of precedence, as `samlkeyd serve` builds it.",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "validate",
			Short: "Check the configuration; print \"config OK\" or every problem (exit 1)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if _, err := a.loadConfig(cmd); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "config OK")
				return nil
			},
		},
		&cobra.Command{
			Use:   "print",
			Short: "Print the effective configuration as YAML, secrets masked",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c, err := a.loadConfig(cmd)
				if err != nil {
					return err
				}
				out, err := config.Marshal(c.Redacted())
				if err != nil {
					return fmt.Errorf("print config: %w", err)
				}
				_, err = a.stdout.Write(out)
				return err
			},
		},
	)
	return cmd
}

// loadConfig loads the configuration with the flags the user set on cmd
// (and its parents) overriding the file and environment. An invalid
// configuration prints every problem on stdout, one a line, and returns
// exit status 1.
func (a *app) loadConfig(cmd *cobra.Command) (*config.Config, error) {
	c, err := config.Load(config.LoadOptions{File: a.configFile, Flags: cmd.Flags()})
	if err == nil {
		return c, nil
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		return nil, err // unreadable file, YAML syntax, empty file: one message
	}
	problems := config.Problems(err)
	for _, p := range problems {
		fmt.Fprintln(a.stdout, p)
	}
	source := "the configuration"
	if a.configFile != "" {
		source = fmt.Sprintf("config %q", a.configFile)
	}
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	return nil, &exitError{code: 1, err: fmt.Errorf("%s has %d %s", source, len(problems), noun)}
}
