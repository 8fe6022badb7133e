package web

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache holds the page rendered from one key (the daemon's snapshot
// pointer) and renders it again only when the key changes or the page's
// StaleAt has passed. Get is one atomic load and a clock read when the page
// is fresh. The zero value is ready; it is safe for concurrent use.
type Cache[K comparable] struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu  sync.Mutex // one render at a time
	cur atomic.Pointer[cached[K]]
}

type cached[K comparable] struct {
	key  K
	page *Page
}

// Get returns the page for key, calling render (with the current time,
// for the view's Now) when there is none yet, the key changed or the page
// went stale. A failed render returns the error and keeps nothing.
func (c *Cache[K]) Get(key K, render func(now time.Time) (*Page, error)) (*Page, error) {
	now := c.now()
	if e := c.cur.Load(); e != nil && e.key == key && now.Before(e.page.StaleAt) {
		return e.page, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now = c.now()
	if e := c.cur.Load(); e != nil && e.key == key && now.Before(e.page.StaleAt) {
		return e.page, nil
	}
	p, err := render(now)
	if err != nil {
		return nil, err
	}
	c.cur.Store(&cached[K]{key: key, page: p})
	return p, nil
}

func (c *Cache[K]) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
