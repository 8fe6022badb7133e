package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/idpmeta"
)

// defaultMetadataRefresh is how often an IdP's metadata_url is re-fetched
// when the config says nothing.
const defaultMetadataRefresh = time.Hour

// refreshIdPMetadata fetches every IdP metadata_url that is due and
// rebuilds the snapshot when a document changed. A failed fetch is logged
// and the previous document stays in use.
func (d *Daemon) refreshIdPMetadata(ctx context.Context) {
	defer d.recoverJob("idp metadata refresh")
	d.buildMu.Lock()
	cfg := d.snap.Load().Config
	d.buildMu.Unlock()
	changed := false
	for _, p := range cfg.IdPs {
		if p.MetadataURL == "" {
			continue
		}
		every := p.MetadataRefresh
		if every <= 0 {
			every = defaultMetadataRefresh
		}
		now := d.now()
		if !d.idpMeta.Due(p.MetadataURL, every, now) {
			continue
		}
		doc, err := d.metaFetcher.Fetch(ctx, p.Name, p.MetadataURL)
		if err != nil {
			d.log.Warn("IdP metadata not refreshed; the previous copy stays in use", "idp", p.Name, "err", err)
			d.idpMeta.Put(p.MetadataURL, nil, now)
			continue
		}
		if d.idpMeta.Put(p.MetadataURL, doc.Data, now) {
			changed = true
			d.log.Info("IdP metadata fetched", "idp", p.Name, "url", doc.URL, "final_url", doc.FinalURL, "bytes", len(doc.Data))
		}
	}
	if changed {
		if err := d.Rebuild(ctx, "idp metadata", nil); err != nil {
			d.log.Error("snapshot rejected", "trigger", "idp metadata", "err", err)
		}
	}
}

// FetchIdPMetadata fetches every configured metadata_url once, for offline
// commands, and returns what BuildOptions.IdPMetadata wants; a failure is
// an error naming the IdP. f nil = a default idpmeta.Fetcher.
func FetchIdPMetadata(ctx context.Context, cfg *config.Config, f *idpmeta.Fetcher) (func(url string) []byte, error) {
	if f == nil {
		f = &idpmeta.Fetcher{}
	}
	c := idpmeta.NewCache()
	for i, p := range cfg.IdPs {
		if p.MetadataURL == "" {
			continue
		}
		doc, err := f.Fetch(ctx, p.Name, p.MetadataURL)
		if err != nil {
			return nil, fmt.Errorf("idps[%d]: %w", i, err)
		}
		c.Put(p.MetadataURL, doc.Data, time.Now())
	}
	return c.Get, nil
}
