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
		a.configValidateCmd(),
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

func (a *app) configValidateCmd() *cobra.Command {
	var offline bool
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and build every component against the store; print \"config OK\" or every problem (exit 1)",
		Long: "validate checks the configuration, then builds every component against the store as serve would\n" +
			"(the keys, every IdP, protocol profile, check, rotation policy and the alert sinks) and prints\n" +
			"each one that fails with its field path and record. \"config OK\" means serve starts with every\n" +
			"component healthy. --offline skips the store; so does a data directory that does not exist yet.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig(cmd)
			if err != nil {
				return err
			}
			if !offline {
				if storeExists(cfg) {
					if err := a.validateComponents(cmd.Context(), cfg); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(a.stderr, "no store at %s yet: record references not checked (serve creates it)\n", cfg.Data)
				}
			}
			fmt.Fprintln(a.stdout, "config OK")
			return nil
		},
	}
	cmd.Flags().BoolVar(&offline, "offline", false, "check the configuration only, without the store")
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
