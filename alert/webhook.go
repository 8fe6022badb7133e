package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// Webhook headers.
const (
	SignatureHeader = "X-Samlkeyd-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	TimestampHeader = "X-Samlkeyd-Timestamp" // Unix seconds when the request was signed
	SchemaVersion   = 1
)

// WebhookOptions configures a Webhook.
type WebhookOptions struct {
	URL        string
	Secret     secret.Value  // HMAC key; empty = unsigned requests
	Timeout    time.Duration // per attempt; 0 = 10s
	Retries    int           // further attempts after the first; 0 = 3, negative = none
	Backoff    time.Duration // before the first retry, doubled each time, ±50% jitter; 0 = 1s
	MaxBackoff time.Duration // 0 = 1m
	Client     *http.Client  // nil = a client with Timeout

	Now   func() time.Time                                 // nil = time.Now
	Sleep func(ctx context.Context, d time.Duration) error // nil = a timer that honours ctx
	Rand  io.Reader                                        // jitter source; nil = crypto/rand
}

// Webhook posts alerts as JSON (see README.md for the schema). It is safe
// for concurrent use.
type Webhook struct {
	o   WebhookOptions
	url string
}

var _ Notifier = (*Webhook)(nil)

// ErrGaveUp wraps the last error of a delivery that failed on every attempt.
var ErrGaveUp = errors.New("gave up")

// NewWebhook checks o and fills its defaults.
func NewWebhook(o WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook url %q: %w", o.URL, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("webhook url %q: want an absolute http or https URL", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	switch {
	case o.Retries == 0:
		o.Retries = 3
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return &Webhook{o: o, url: u.Redacted()}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Payload is the webhook JSON body, schema version 1.
type Payload struct {
	Version  int               `json:"version"`
	Key      string            `json:"key"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Summary  string            `json:"summary"`
	Detail   string            `json:"detail,omitempty"`
	Subject  map[string]string `json:"subject,omitempty"`
	Time     time.Time         `json:"time"`
}

// Body returns the webhook JSON body of a.
func Body(a Alert) ([]byte, error) {
	return json.Marshal(Payload{Version: SchemaVersion, Key: a.Key, Kind: a.Kind, Severity: a.Severity,
		Summary: a.Summary, Detail: a.Detail, Subject: a.Subject, Time: a.Time.UTC()})
}

// Sign returns the signature header value of body: "sha256=" and the hex
// HMAC-SHA256 of the body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify posts a, retrying on network errors, 429 and 5xx responses with
// exponential backoff and jitter. A 4xx other than 429 is not retried.
func (w *Webhook) Notify(ctx context.Context, a Alert) error {
	body, err := Body(a)
	if err != nil {
		return fmt.Errorf("webhook %s alert %q: %w", w.url, a.Key, err)
	}
	var last error
	for attempt := 0; attempt <= w.o.Retries; attempt++ {
		if attempt > 0 {
			if err := w.o.Sleep(ctx, w.backoff(attempt)); err != nil {
				return fmt.Errorf("webhook %s alert %q: %w (last error: %v)", w.url, a.Key, err, last)
			}
		}
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			return fmt.Errorf("webhook %s alert %q: %w", w.url, a.Key, err)
		}
	}
	return fmt.Errorf("webhook %s alert %q: %w after %d attempts: %w", w.url, a.Key, ErrGaveUp, w.o.Retries+1, last)
}

func (w *Webhook) backoff(attempt int) time.Duration {
	d := w.o.Backoff << (attempt - 1)
	if d > w.o.MaxBackoff || d <= 0 {
		d = w.o.MaxBackoff
	}
	var b [8]byte
	if _, err := io.ReadFull(w.o.Rand, b[:]); err != nil {
		return d
	}
	// d/2 + [0, d): ±50% around d.
	return d/2 + time.Duration(binary.BigEndian.Uint64(b[:])%uint64(d))
}

func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "samlkeyd-alert/1")
	ts := w.o.Now().Unix()
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	if !w.o.Secret.Empty() {
		req.Header.Set(SignatureHeader, Sign(w.o.Secret.Reveal(), body))
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("status %s", resp.Status)
	default:
		return false, fmt.Errorf("status %s (not retried: check the URL and the receiver's signature secret)", resp.Status)
	}
}

// String names the webhook by its URL with any password redacted, so that
// printing a Webhook never shows credentials.
func (w *Webhook) String() string { return "webhook " + w.url }

// GoString is String, for %#v.
func (w *Webhook) GoString() string { return w.String() }
