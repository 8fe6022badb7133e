package main

import (
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/internal/buildinfo"
)

// app carries what every command shares: the streams and the global flags.
// Commands are thin adapters: parse flags, call a package, print.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configFile    string
	data          string
	databaseURL   string
	masterKeyFile string
	flags         *pflag.FlagSet     // the running command's parsed flags, for config.Load
	built         []*daemon.Snapshot // snapshots the command built, whose token keys close when it ends
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr}
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "samlkeyd",
		Short:         "Key custodian of a SAML service provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version prints what `samlkeyd version` does.
	root.Version = buildinfo.Read().Short()
	root.SetVersionTemplate(buildinfo.Read().String())
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	// config.Load sees only flags set on the flag set that parsed them:
	// remember the running command's (it includes the global flags).
	a.flags = root.Flags()
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) { a.flags = cmd.Flags() }
	root.PersistentPostRun = func(*cobra.Command, []string) {
		for _, s := range a.built {
			s.CloseTokens() // log the token sessions out
		}
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "YAML config file (default: none; SAMLKEYD_* environment variables apply)")
	pf.StringVar(&a.data, "data", "", "data directory: SQLite store and master key (default ./samlkeyd-data)")
	pf.StringVar(&a.databaseURL, "database-url", "", "PostgreSQL URL of a store shared by several replicas (instead of SQLite)")
	pf.StringVar(&a.masterKeyFile, "master-key-file", "", "file holding the master key that seals passwords (default <data>/master.key)")
	// Read through config.Load, as log_level, like every other key.
	pf.String("log-level", "info", "log level: debug, info, warn, error (overrides log_level and SAMLKEYD_LOG_LEVEL)")

	root.AddCommand(
		a.initCmd(),
		a.serveCmd(),
		a.keystoreCmd(),
		a.certCmd(),
		a.propertyCmd(),
		a.migrateCmd(),
		a.auditCmd(),
		a.configCmd(),
		a.metadataCmd(),
		a.signCmd(),
		a.responseCmd(),
		a.logoutCmd(),
		a.checkCmd(),
		a.statusCmd(),
		a.expiryCmd(),
		a.rotateCmd(),
		a.pkcs11Cmd(),
		a.tokenCmd(),
		a.versionCmd(),
	)
	return root
}

// logger returns the logger commands use: text to stderr at the loaded
// config's log_level, which config.Load takes from --log-level, else
// SAMLKEYD_LOG_LEVEL, else the file, else info (and has validated).
func (a *app) logger(cfg *config.Config) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: lvl}))
}

// exitError carries a process exit code other than 1 (e.g. a check that ran
// and failed, or validation that found problems).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// effectiveConfig loads the config the command runs with: embedded
// defaults, the --config file, SAMLKEYD_* variables, then the flags the user
// set on the command line (global ones such as --data and the command's own
// such as --listen).
func (a *app) effectiveConfig(cmd *cobra.Command) (*config.Config, error) {
	return config.Load(config.LoadOptions{File: a.configFile, Flags: cmd.Flags()})
}
