package daemon

import (
	"context"
	"reflect"
	"slices"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/sp"
)

// core is the snapshot's core component: the signing and encryption
// credentials (current, next, previous), the signing service and the
// rendered metadata and certificate files. The daemon is ready once a core
// exists; a core that does not build fails the whole build, and the last
// good snapshot keeps serving.
type core struct {
	keys     *keys.KeySet
	sp       *sp.Service
	metadata *metadata.Published
	refs     []credRef // the records (and versions) the keys came from, in KeySet order
}

// credRef is one credential's record at one version, in one role.
type credRef struct {
	id      string
	version int64
	use     keys.Use
	role    keys.Role
}

// buildCore opens the keys (through the cache), then takes the previous
// snapshot's core when its keys and config sections are unchanged, only
// re-rendering the metadata when its refresh time has come; otherwise it
// self-tests the keys, builds the signing service and renders the
// metadata.
func (b *builder) buildCore(ctx context.Context) (*core, error) {
	ks, err := b.openKeys(ctx)
	if err != nil {
		return nil, err
	}
	refs := b.credRefs(ks)
	now := b.o.Now()
	if p := b.prev; p != nil && p.core != nil && slices.Equal(p.core.refs, refs) && sameCoreConfig(p.Config, b.cfg) {
		c := *p.core
		if metadataDue(c.metadata, now) {
			if c.metadata, err = renderMetadata(b.cfg, c.sp, c.keys, now); err != nil {
				return nil, err
			}
		}
		return &c, nil
	}
	if err := selfTest(ks); err != nil {
		return nil, err
	}
	svc, err := b.signingService(ks)
	if err != nil {
		return nil, err
	}
	pub, err := renderMetadata(b.cfg, svc, ks, now)
	if err != nil {
		return nil, err
	}
	return &core{keys: ks, sp: svc, metadata: pub, refs: refs}, nil
}

func (b *builder) credRefs(ks *keys.KeySet) []credRef {
	var out []credRef
	for _, c := range slices.Concat(ks.Signing, ks.Encryption) {
		r, _ := b.idx.byID(c.RecordID)
		out = append(out, credRef{id: c.RecordID, version: r.Version, use: c.Use, role: c.Role})
	}
	return out
}

// sameCoreConfig says whether two configs agree on everything the core is
// built from besides its keys: the SP section and the IdP records (the
// signing service's switches and endpoints).
func sameCoreConfig(a, b *config.Config) bool {
	return a == b || (reflect.DeepEqual(a.SP, b.SP) && reflect.DeepEqual(a.IdPs, b.IdPs))
}

// metadataDue says whether rendered metadata must be renewed at now (its
// validUntil is getting close).
func metadataDue(pub *metadata.Published, now time.Time) bool {
	at := pub.RefreshAt()
	return !at.IsZero() && !now.Before(at)
}
