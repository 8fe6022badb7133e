package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// storeOptions resolves where the store is, as every command and serve
// see it: config.Load merges the --config file's data, database_url and
// master_key_file with SAMLKEYD_DATA, SAMLKEYD_DATABASE_URL and
// SAMLKEYD_MASTER_KEY_FILE and the --data, --database-url and
// --master-key-file flags (flags win, then the environment, then the file,
// then ./samlkeyd-data).
func (a *app) storeOptions() (store.Options, error) {
	cfg, err := config.Load(config.LoadOptions{File: a.configFile, Flags: a.flags})
	if err != nil {
		return store.Options{}, err
	}
	return a.storeOptionsFor(cfg), nil
}

// storeOptionsFor is storeOptions for an already loaded config. The master
// key itself comes from SAMLKEYD_MASTER_KEY, never from the config file.
// The options refuse a store that does not exist (MustExist): only init and
// serve create one, and they clear it.
func (a *app) storeOptionsFor(cfg *config.Config) store.Options {
	log := a.logger(cfg)
	log.Debug("store location", "data", cfg.Data, "database_url", cfg.Redacted().DatabaseURL, "master_key_file", cfg.MasterKeyFile)
	o := store.Options{Logger: log, DataDir: cfg.Data, DatabaseURL: cfg.DatabaseURL, MasterKeyFile: cfg.MasterKeyFile,
		Timeout: cfg.StoreTimeout, MustExist: true,
		OnError: func(op string, err error) { log.Debug("store call failed", "op", op, "err", err) }}
	if k := os.Getenv("SAMLKEYD_MASTER_KEY"); k != "" {
		o.MasterKey = secret.FromString(k)
	}
	return o
}

// openStoreFor opens the existing store a loaded config names, and names
// it on stderr (through the logger, at info).
func (a *app) openStoreFor(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	return a.openWith(ctx, a.storeOptionsFor(cfg))
}

// openStore opens the existing store the flags name.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	o, err := a.storeOptions()
	if err != nil {
		return nil, err
	}
	return a.openWith(ctx, o)
}

// openWith opens the store o names and says which it opened, or, with
// o.MustExist unset, created.
func (a *app) openWith(ctx context.Context, o store.Options) (*store.Store, error) {
	s, err := store.Open(ctx, o)
	if err != nil {
		return nil, noStoreHint(err, o)
	}
	if s.Created() {
		o.Logger.Info("created a new store: back up its master key (docs/operations.md, \"Backing up the master key and the store\")",
			"store", o.Location())
	} else {
		o.Logger.Info("store", "store", o.Location())
	}
	return s, nil
}

// noStoreHint adds to store.ErrNoStore how to make or find the store.
func noStoreHint(err error, o store.Options) error {
	if !errors.Is(err, store.ErrNoStore) {
		return err
	}
	if o.DatabaseURL != "" {
		return fmt.Errorf("%w (run samlkeyd init --database-url URL, or check --database-url / SAMLKEYD_DATABASE_URL)", err)
	}
	return fmt.Errorf("%w (run samlkeyd init, or pass --data / set SAMLKEYD_DATA)", err)
}

// actor is the audit log's name for whoever runs the CLI.
func actor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return "cli:" + n
	}
	return "cli"
}

// withStore opens the existing store, runs fn with it, and closes it.
func (a *app) withStore(ctx context.Context, fn func(*store.Store) error) error {
	s, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}
