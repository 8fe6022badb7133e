package main

import (
	"context"
	"os"
	"os/user"

	"samlkeyd/config"
	"samlkeyd/secret"
	"samlkeyd/store"
)

// storeOptions resolves where the store is: the --data, --database-url and
// --master-key-file flags, then SAMLKEYD_DATA, SAMLKEYD_DATABASE_URL and
// SAMLKEYD_MASTER_KEY_FILE, then the --config file's data, database_url and
// master_key_file (config.Load applies the environment over the file), then
// ./samlkeyd-data. The master key itself comes from SAMLKEYD_MASTER_KEY.
func (a *app) storeOptions() (store.Options, error) {
	o := store.Options{Logger: a.logger()}
	if a.configFile != "" {
		c, err := config.Load(config.LoadOptions{File: a.configFile})
		if err != nil {
			return o, err
		}
		o.DataDir, o.DatabaseURL, o.MasterKeyFile = c.Data, c.DatabaseURL, c.MasterKeyFile
	}
	pick := func(flag string, cur *string, env string) {
		switch {
		case flag != "":
			*cur = flag
		case *cur == "":
			*cur = os.Getenv(env)
		}
	}
	pick(a.data, &o.DataDir, "SAMLKEYD_DATA")
	pick(a.databaseURL, &o.DatabaseURL, "SAMLKEYD_DATABASE_URL")
	pick(a.masterKeyFile, &o.MasterKeyFile, "SAMLKEYD_MASTER_KEY_FILE")
	if k := os.Getenv("SAMLKEYD_MASTER_KEY"); k != "" {
		o.MasterKey = secret.FromString(k)
	}
	return o, nil
}

// openStore opens (and on first start creates) the store the flags name.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	o, err := a.storeOptions()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, o)
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
