// Package idpmeta owns what IdPs publish: their metadata documents, fetched
// from a metadata_url under rules a network attacker cannot bend (no
// downgrade from https to http, few redirects, a size cap, timeouts, the
// standard proxy variables), and the last good copy of each.
package idpmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of a Fetcher whose fields are zero.
const (
	DefaultMaxBytes     = 4 << 20 // the same cap as a metadata_file
	DefaultMaxRedirects = 5
	DefaultTimeout      = 30 * time.Second // the whole fetch, redirects and body included
)

// Fetcher GETs IdP metadata documents. An https URL is never followed to
// plain http, at most MaxRedirects redirects are followed, and the body is
// read up to MaxBytes within Timeout. The zero value is ready to use; a
// Fetcher is safe for concurrent use and must not be copied after first use.
type Fetcher struct {
	// Client supplies the Transport (and Jar) used; nil = a client over
	// NewTransport(). Its CheckRedirect, if any, is consulted after the
	// fetcher's own rules, which it cannot relax.
	Client       *http.Client
	MaxBytes     int64         // 0 = DefaultMaxBytes
	MaxRedirects int           // 0 = DefaultMaxRedirects; < 0 = no redirect at all
	Timeout      time.Duration // 0 = DefaultTimeout

	once sync.Once
	def  *http.Client
}

// Document is a fetched metadata document.
type Document struct {
	Data     []byte
	URL      string // the URL asked for
	FinalURL string // where the document came from after redirects
}

// RedirectError is a redirect the fetcher refused to follow.
type RedirectError struct {
	From, To string // the URL that answered with a redirect, and its target
	Reason   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s redirected to %s: refused: %s", e.From, e.To, e.Reason)
}

// NewTransport returns a copy of http.DefaultTransport that takes its
// proxy from HTTPS_PROXY, HTTP_PROXY and NO_PROXY (and their lower-case
// forms; see http.ProxyFromEnvironment), with bounded dial, TLS handshake
// and response header waits.
func NewTransport() *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second}
	}
	t.Proxy = http.ProxyFromEnvironment
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 20 * time.Second
	return t
}

// StatusError is a fetch answered with a status other than 200 OK.
type StatusError struct {
	URL    string // where the answer came from after redirects
	Code   int
	Status string
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s answered %s", e.URL, e.Status) }

// Fetch GETs the metadata document of the IdP named idp from url. Errors
// name the IdP and the URL; a refused redirect is a *RedirectError naming
// both ends, an answer other than 200 a *StatusError.
func (f *Fetcher) Fetch(ctx context.Context, idp, url string) (*Document, error) {
	var doc *Document
	err := f.Stream(ctx, idp, url, func(r io.Reader, final string) error {
		limit := f.maxBytes()
		data, err := io.ReadAll(r)
		if err != nil {
			return fmt.Errorf("read %s: %w", final, err)
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%s sent over the %d-byte cap", final, limit)
		}
		doc = &Document{Data: data, URL: url, FinalURL: final}
		return nil
	})
	return doc, err
}

// Stream GETs url under the same rules as Fetch and hands the body,
// limited to MaxBytes+1 bytes, to read with the final URL, so that a large
// document (a federation aggregate) is processed without being held in
// memory. An error of read is wrapped like the fetcher's own.
func (f *Fetcher) Stream(ctx context.Context, idp, url string, read func(body io.Reader, finalURL string) error) error {
	fail := func(err error) error {
		return fmt.Errorf("fetch metadata of IdP %q from %s: %w", idp, url, err)
	}
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := f.client().Do(req)
	if err != nil {
		var re *RedirectError
		if errors.As(err, &re) {
			return fail(re) // without the url.Error wrapping that repeats a URL
		}
		return fail(err)
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	if resp.StatusCode != http.StatusOK {
		return fail(&StatusError{URL: final, Code: resp.StatusCode, Status: resp.Status})
	}
	limit := f.maxBytes()
	if resp.ContentLength > limit {
		return fail(fmt.Errorf("%s announces %d bytes, over the %d-byte cap", final, resp.ContentLength, limit))
	}
	if err := read(&capReader{r: resp.Body, left: limit, url: final}, final); err != nil {
		return fail(err)
	}
	return nil
}

// capReader fails once more than left bytes were read.
type capReader struct {
	r    io.Reader
	left int64
	url  string
	max  int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.max == 0 {
		c.max = c.left
	}
	if c.left < 0 {
		return 0, fmt.Errorf("%s sent over the %d-byte cap", c.url, c.max)
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, fmt.Errorf("%s sent over the %d-byte cap", c.url, c.max)
	}
	return n, err
}

func (f *Fetcher) maxBytes() int64 {
	if f.MaxBytes > 0 {
		return f.MaxBytes
	}
	return DefaultMaxBytes
}

// client returns a copy of the configured client whose redirects go
// through checkRedirect.
func (f *Fetcher) client() *http.Client {
	base := f.Client
	if base == nil {
		f.once.Do(func() { f.def = &http.Client{Transport: NewTransport()} })
		base = f.def
	}
	c := *base
	next := base.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := f.checkRedirect(req, via); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &c
}

// checkRedirect refuses a redirect that leaves https for anything else once
// any hop was https, and the redirect after the MaxRedirects-th.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	from := via[len(via)-1].URL.String()
	limit := f.MaxRedirects
	if limit == 0 {
		limit = DefaultMaxRedirects
	}
	if len(via) > limit {
		reason := fmt.Sprintf("more than %d redirects", limit)
		if limit < 0 {
			reason = "redirects are not followed"
		}
		return &RedirectError{From: from, To: req.URL.String(), Reason: reason}
	}
	if req.URL.Scheme != "https" {
		for _, r := range via {
			if r.URL.Scheme == "https" {
				return &RedirectError{From: from, To: req.URL.String(),
					Reason: "a metadata_url reached over https must not continue over " + req.URL.Scheme + " (a network attacker could substitute the document)"}
			}
		}
	}
	return nil
}
