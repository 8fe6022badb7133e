package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/store"
)

// backupDoc is where the docs say how to back up the master key.
const backupDoc = `docs/operations.md, "Backing up the master key and the store"`

func (a *app) initCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init [--data DIR | --database-url URL]",
		Short: "Create a store (schema, base system keystores, master key) and say where it is",
		Long: `Create a store: the schema, the base system keystores and, for SQLite, the master key
(<data>/master.key). Every command but serve and migrate refuses a store that does not
exist, so that a command run from the wrong directory never makes a second store with new
keys. A PostgreSQL store needs the master key every replica shares: SAMLKEYD_MASTER_KEY,
or --master-key-file (created here when it does not exist). An existing store is left
alone (exit status 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("data") && cmd.Flags().Changed("database-url") {
				return errors.New("init: give --data (SQLite) or --database-url (PostgreSQL), not both")
			}
			o, err := a.storeOptions()
			if err != nil {
				return err
			}
			ok, err := store.Exists(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if ok {
				return fmt.Errorf("init: a samlkeyd store already exists at %s: nothing changed", o.Location())
			}
			if o.DatabaseURL != "" && o.MasterKey.Empty() && o.MasterKeyFile != "" {
				if err := store.CreateMasterKeyFile(o.MasterKeyFile); err != nil {
					return fmt.Errorf("init: %w", err)
				}
			}
			o.MustExist = false
			s, err := store.Open(cmd.Context(), o)
			if err != nil {
				return fmt.Errorf("init: %w", err)
			}
			if err := s.Close(); err != nil {
				return fmt.Errorf("init: %w", err)
			}
			a.printInit(o)
			return nil
		},
	}
}

// printInit says where the new store and its master key are, and how to
// back the key up.
func (a *app) printInit(o store.Options) {
	fmt.Fprintf(a.stdout, "Created a samlkeyd store in %s\n", o.Location())
	fmt.Fprintf(a.stdout, "  with the base system keystores: %s (signing), %s (encryption)\n",
		store.BaseKeystores()[0].Name, store.BaseKeystores()[2].Name)
	if p := o.MasterKeyPath(); p != "" {
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		fmt.Fprintf(a.stdout, "Master key: %s\n", p)
	} else {
		fmt.Fprintln(a.stdout, "Master key: the one in SAMLKEYD_MASTER_KEY (samlkeyd does not store it)")
	}
	fmt.Fprintln(a.stdout, "Back up the master key now, apart from the store: without it no keystore in the store")
	fmt.Fprintf(a.stdout, "opens again. How: %s.\n", backupDoc)
	if o.DatabaseURL == "" {
		fmt.Fprintf(a.stdout, "Run every command with the same store: --data %s, or SAMLKEYD_DATA, or data: in the config.\n", dataFlag(o))
	}
}

// dataFlag is the data directory o names, as an absolute path when it can.
func dataFlag(o store.Options) string {
	d := o.DataDir
	if d == "" {
		d = store.DefaultDataDir
	}
	if abs, err := filepath.Abs(d); err == nil {
		return abs
	}
	return d
}
