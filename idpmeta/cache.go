package idpmeta

import (
	"bytes"
	"sync"
	"time"
)

// Cache holds the last document fetched from each metadata_url, so that a
// snapshot build never touches the network, with the time of the last
// attempt. It is safe for concurrent use.
type Cache struct {
	mu   sync.Mutex
	docs map[string]cached // by the URL asked for
}

type cached struct {
	data []byte
	at   time.Time // last attempt
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{docs: map[string]cached{}}
}

// Get returns the last document fetched from url, or nil.
func (c *Cache) Get(url string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.docs[url].data
}

// Due reports whether url was last tried every or longer before now (or
// never).
func (c *Cache) Due(url string, every time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.docs[url]
	return !ok || !now.Before(f.at.Add(every))
}

// Put records an attempt at url at now; data nil (a failed fetch) keeps the
// previous document. It reports whether the document changed.
func (c *Cache) Put(url string, data []byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.docs[url]
	changed := data != nil && !bytes.Equal(f.data, data)
	if data != nil {
		f.data = data
	}
	f.at = now
	c.docs[url] = f
	return changed
}
