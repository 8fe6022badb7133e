package main

import (
	"context"

	"github.com/samlkeyd/samlkeyd/daemon"
	"github.com/samlkeyd/samlkeyd/sp"
)

// federatedIdP resolves an --idp the snapshot does not name as a federation
// entity id through idp_sources (daemon.Federated, once, offline). err is
// the snapshot's own answer, returned unchanged when the config has no
// idp_sources and no named record has that entity id.
func federatedIdP(ctx context.Context, snap *daemon.Snapshot, idp string, err error) (*sp.Service, *sp.ResponseValidator, string, error) {
	svc, v, name, ferr := daemon.Federated(ctx, snap, idp, daemon.BuildOptions{})
	switch {
	case ferr == nil:
		return svc, v, name, nil
	case len(snap.Config.IdPSources) == 0:
		return nil, nil, "", err
	}
	return nil, nil, "", ferr
}
