package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
)

// defaultMetadataRefresh is how often an IdP's metadata_url is re-fetched
// when the config says nothing.
const defaultMetadataRefresh = time.Hour

// idpMetadataStore holds the IdP metadata documents fetched from their
// metadata_url, so a snapshot build never touches the network. It is safe
// for concurrent use.
type idpMetadataStore struct {
	mu   sync.Mutex
	docs map[string]fetchedMetadata // by URL
}

type fetchedMetadata struct {
	data []byte
	at   time.Time // last attempt
}

func newIdPMetadataStore() *idpMetadataStore {
	return &idpMetadataStore{docs: map[string]fetchedMetadata{}}
}

// Get returns the last document fetched from url, or nil.
func (s *idpMetadataStore) Get(url string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[url].data
}

// due reports whether url was last tried longer than every ago.
func (s *idpMetadataStore) due(url string, every time.Duration, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.docs[url]
	return !ok || !now.Before(f.at.Add(every))
}

// put records an attempt at url; data nil keeps the previous document. It
// reports whether the document changed.
func (s *idpMetadataStore) put(url string, data []byte, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.docs[url]
	changed := data != nil && !bytes.Equal(f.data, data)
	if data != nil {
		f.data = data
	}
	f.at = now
	s.docs[url] = f
	return changed
}

// fetchIdPMetadata GETs an IdP's metadata document, at most maxIdPMetadata
// bytes, within timeout.
func fetchIdPMetadata(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch IdP metadata %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch IdP metadata %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch IdP metadata %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIdPMetadata+1))
	if err != nil {
		return nil, fmt.Errorf("fetch IdP metadata %s: %w", url, err)
	}
	if len(data) > maxIdPMetadata {
		return nil, fmt.Errorf("fetch IdP metadata %s: over %d bytes", url, maxIdPMetadata)
	}
	return data, nil
}

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
		if !d.idpMeta.due(p.MetadataURL, every, now) {
			continue
		}
		data, err := fetchIdPMetadata(ctx, d.httpClient(), p.MetadataURL)
		if err != nil {
			d.log.Warn("IdP metadata not refreshed; the previous copy stays in use", "idp", p.Name, "err", err)
		}
		if d.idpMeta.put(p.MetadataURL, data, now) {
			changed = true
			d.log.Info("IdP metadata fetched", "idp", p.Name, "url", p.MetadataURL, "bytes", len(data))
		}
	}
	if changed {
		if err := d.Rebuild(ctx, "idp metadata", nil); err != nil {
			d.log.Error("snapshot rejected", "trigger", "idp metadata", "err", err)
		}
	}
}

func (d *Daemon) httpClient() *http.Client {
	if d.opts.HTTPClient != nil {
		return d.opts.HTTPClient
	}
	return http.DefaultClient
}

// FetchIdPMetadata fetches every configured metadata_url once, for offline
// commands, and returns what BuildOptions.IdPMetadata wants; a failure is
// an error naming the IdP. client nil = http.DefaultClient.
func FetchIdPMetadata(ctx context.Context, cfg *config.Config, client *http.Client) (func(url string) []byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	s := newIdPMetadataStore()
	for i, p := range cfg.IdPs {
		if p.MetadataURL == "" {
			continue
		}
		data, err := fetchIdPMetadata(ctx, client, p.MetadataURL)
		if err != nil {
			return nil, fmt.Errorf("idps[%d] (%s): %w", i, p.Name, err)
		}
		s.put(p.MetadataURL, data, time.Now())
	}
	return s.Get, nil
}
