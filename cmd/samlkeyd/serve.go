package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/store"
)

func (a *app) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: SP metadata, certificates, health, metrics and the signing API",
		Long: `Run the daemon. With no config it keeps its store in ./samlkeyd-data (created
with the base SAML keystores on first start) and listens on 127.0.0.1:8080.
The config file, the store and SIGHUP are followed without a restart; a change
that does not build is rejected and the previous snapshot keeps serving.
SIGTERM or SIGINT shuts down gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return a.serve(ctx, cmd)
		},
	}
	cmd.Flags().String("listen", "", "address to listen on (default 127.0.0.1:8080)")
	return cmd
}

func (a *app) serve(ctx context.Context, cmd *cobra.Command) error {
	start := time.Now()
	load := func() (*config.Config, error) { return a.effectiveConfig(cmd) }
	cfg, err := load()
	if err != nil {
		return err
	}
	log := a.logger(cfg)
	mln, err := listen("metrics_listen", cfg.MetricsListen, cfg.MaxConnections)
	if err != nil {
		return err
	}
	if mln != nil {
		defer mln.Close() // Run closes it; this covers a failed start
	}
	// The store is opened inside Run, so that /healthz and /readyz (503)
	// answer while it is unreachable; Run retries it with backoff. serve
	// alone (with init) creates a missing SQLite store, so that `samlkeyd
	// serve` with no config works; openWith logs that it did. A PostgreSQL
	// store is shared by replicas: one pointed at the wrong database must
	// not start a second store with new keys there, so its schema comes
	// from samlkeyd init.
	var st *store.Store
	d, err := daemon.Prepare(daemon.Options{
		Config:     cfg,
		ConfigFile: a.configFile,
		LoadConfig: load,
		OpenStore: func(ctx context.Context, onError func(string, error)) (daemon.Store, error) {
			o := a.storeOptionsFor(cfg)
			o.OnError = onError
			o.MustExist = o.DatabaseURL != ""
			s, err := a.openWith(ctx, o)
			if err != nil {
				return nil, err
			}
			st = s
			return s, nil
		},
		Logger:          log,
		MetricsListener: mln,
	})
	if err != nil {
		return err
	}
	ln, err := listen("listen", cfg.Listen, cfg.MaxConnections)
	if err != nil {
		return err
	}
	metricsBase := "http://" + ln.Addr().String()
	if mln != nil {
		metricsBase = "http://" + mln.Addr().String()
	}
	printURLs(a.stdout, "http://"+ln.Addr().String(), metricsBase, cfg)
	log.Info("samlkeyd serving", "addr", ln.Addr().String(), "metrics", metricsBase+"/metrics",
		"max_connections", cfg.MaxConnections, "entity_id", cfg.SP.EntityID,
		"startup", time.Since(start).Round(time.Millisecond), "shutdown_bound", daemon.ShutdownBound(cfg.StoreTimeout))
	err = d.Run(ctx, ln)
	if st != nil { // Run has returned: nothing uses the store any more
		_ = st.Close()
	}
	if err != nil {
		return err
	}
	log.Info("samlkeyd stopped")
	return nil
}

// listen opens the listener of a config key (key = the address; "" = none),
// holding at most maxConns connections at once.
func listen(key, addr string, maxConns int) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s on %s: %w", key, addr, err)
	}
	return daemon.LimitListener(ln, maxConns), nil
}

// printURLs prints every URL the daemon serves, so an operator can paste
// the metadata URL into an IdP straight away. metricsBase is where
// /metrics is served: base, or the metrics listener's.
func printURLs(w io.Writer, base, metricsBase string, cfg *config.Config) {
	fmt.Fprintf(w, "samlkeyd listening on %s\n", base)
	fmt.Fprintf(w, "  entity id         %s\n", cfg.SP.EntityID)
	for _, u := range []struct{ what, path string }{
		{"metadata", "/saml/metadata"},
		{"certificates", "/saml/certs"},
		{"signing PEM", "/saml/certs/signing.pem"},
		{"encryption PEM", "/saml/certs/encryption.pem"},
		{"signing DER", "/saml/certs/signing.crt"},
		{"encryption DER", "/saml/certs/encryption.crt"},
		{"health", "/healthz"},
		{"readiness", "/readyz"},
	} {
		fmt.Fprintf(w, "  %-17s %s%s\n", u.what, base, u.path)
	}
	fmt.Fprintf(w, "  %-17s %s/metrics\n", "metrics", metricsBase)
	// Tokens also come from the store (samlkeyd token create), which is
	// opened after this is printed: the API's URL is always shown.
	fmt.Fprintf(w, "  %-17s %s/api/v1/ (bearer tokens: samlkeyd token create, or api.tokens)\n", "API", base)
}

// snapshot builds, offline, the snapshot `serve` would serve now, from the
// effective config and the store. edit, when set, adjusts the config first.
func (a *app) snapshot(ctx context.Context, cmd *cobra.Command, edit func(*config.Config)) (*daemon.Snapshot, error) {
	var snap *daemon.Snapshot
	err := a.withSnapshot(ctx, cmd, edit, func(s *daemon.Snapshot, _ *store.Store) error {
		snap = s
		return nil
	})
	return snap, err
}

// withSnapshot is snapshot for commands that also use the open store.
func (a *app) withSnapshot(ctx context.Context, cmd *cobra.Command, edit func(*config.Config), fn func(*daemon.Snapshot, *store.Store) error) error {
	return a.buildSnapshot(ctx, cmd, edit, false, fn)
}

// buildSnapshot is withSnapshot; fetchIdPMetadata also fetches the IdPs'
// metadata_url documents first (for response verification).
func (a *app) buildSnapshot(ctx context.Context, cmd *cobra.Command, edit func(*config.Config), fetchIdPMetadata bool, fn func(*daemon.Snapshot, *store.Store) error) error {
	cfg, err := a.effectiveConfig(cmd)
	if err != nil {
		return err
	}
	if edit != nil {
		edit(cfg)
	}
	st, err := a.openStoreFor(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := daemon.BuildOptions{Logger: a.logger(cfg)}
	if fetchIdPMetadata {
		if opts.IdPMetadata, err = daemon.FetchIdPMetadata(ctx, cfg, nil); err != nil {
			return err
		}
	}
	snap, err := daemon.Build(ctx, cfg, st, opts)
	if err != nil {
		return err
	}
	a.built = append(a.built, snap) // its token keys are closed when the command ends
	return fn(snap, st)
}
