package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

var tAlert = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

func testAlert(key string) Alert {
	return Alert{Key: key, Kind: KindExpiry, Severity: SeverityWarning, Summary: "certificate CN=sp.example.com expires in 7 days",
		Detail: "not after 2027-03-08T12:00:00Z", Subject: map[string]string{"record": "sp-signing", "sha256": "ab12", "threshold": "168h0m0s"}, Time: tAlert}
}

// noSleep records the backoffs asked for and returns at once.
type noSleep struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *noSleep) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ds = append(s.ds, d)
	return ctx.Err()
}

func TestWebhookBodyAndSignature(t *testing.T) {
	key := []byte("hook-secret")
	now := time.Date(2027, 3, 1, 12, 0, 5, 0, time.UTC)
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL, Secret: secret.New(key), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Notify(context.Background(), testAlert("expiry:ab12:168h0m0s")); err != nil {
		t.Fatal(err)
	}
	r, body := <-got, <-bodies
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %q", r.Method, r.Header.Get("Content-Type"))
	}
	if ts := r.Header.Get(TimestampHeader); ts != strconv.FormatInt(now.Unix(), 10) {
		t.Errorf("%s = %q", TimestampHeader, ts)
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(want)) {
		t.Errorf("%s = %q, want %q", SignatureHeader, r.Header.Get(SignatureHeader), want)
	}
	// The documented schema, decoded without the package's own type.
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"version": float64(1), "key": "expiry:ab12:168h0m0s", "kind": "expiry", "severity": "warning",
		"summary": "certificate CN=sp.example.com expires in 7 days", "detail": "not after 2027-03-08T12:00:00Z",
		"subject": map[string]any{"record": "sp-signing", "sha256": "ab12", "threshold": "168h0m0s"}, "time": "2027-03-01T12:00:00Z"}
	for k, v := range want {
		if b1, _ := json.Marshal(doc[k]); string(b1) != mustJSON(t, v) {
			t.Errorf("field %q = %s, want %s", k, b1, mustJSON(t, v))
		}
	}
	for k := range doc {
		if _, ok := want[k]; !ok {
			t.Errorf("undocumented field %q", k)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	var sig atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sig.Store(r.Header.Get(SignatureHeader))
	}))
	defer srv.Close()
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL})
	if err := w.Notify(context.Background(), testAlert("k")); err != nil {
		t.Fatal(err)
	}
	if s := sig.Load().(string); s != "" {
		t.Errorf("unsigned request carries %s %q", SignatureHeader, s)
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int // per attempt; the last repeats
		retries   int
		wantCalls int
		wantErr   error
		gaveUp    bool
	}{
		{"500 then success", []int{500, 500, 200}, 3, 3, nil, false},
		{"429 then success", []int{429, 204}, 3, 2, nil, false},
		{"gives up after N", []int{503}, 2, 3, ErrGaveUp, true},
		{"400 is not retried", []int{400}, 3, 1, nil, false},
		{"no retries", []int{500}, -1, 1, ErrGaveUp, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses)-1)])
			}))
			defer srv.Close()
			sl := &noSleep{}
			w, err := NewWebhook(WebhookOptions{URL: srv.URL, Retries: tc.retries, Backoff: time.Second, MaxBackoff: 3 * time.Second, Sleep: sl.Sleep})
			if err != nil {
				t.Fatal(err)
			}
			err = w.Notify(context.Background(), testAlert("k"))
			if int(calls.Load()) != tc.wantCalls {
				t.Errorf("%d attempts, want %d", calls.Load(), tc.wantCalls)
			}
			last := tc.statuses[len(tc.statuses)-1]
			switch {
			case last/100 == 2 && err != nil:
				t.Errorf("Notify: %v", err)
			case last/100 != 2 && err == nil:
				t.Error("Notify succeeded against a failing receiver")
			}
			if errors.Is(err, ErrGaveUp) != tc.gaveUp {
				t.Errorf("errors.Is(%v, ErrGaveUp) = %v", err, !tc.gaveUp)
			}
			// Exponential backoff capped at MaxBackoff, jittered ±50%.
			if len(sl.ds) != tc.wantCalls-1 {
				t.Fatalf("slept %v, want %d sleeps", sl.ds, tc.wantCalls-1)
			}
			for i, d := range sl.ds {
				base := min(time.Second<<i, 3*time.Second)
				if d < base/2 || d >= base/2+base {
					t.Errorf("backoff %d = %s, want in [%s, %s)", i+1, d, base/2, base/2+base)
				}
			}
		})
	}
}

func TestWebhookHonoursContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	w, _ := NewWebhook(WebhookOptions{URL: srv.URL, Retries: -1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Notify(ctx, testAlert("k")); !errors.Is(err, context.Canceled) {
		t.Errorf("Notify with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNewWebhookErrors(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"relative", "/hook"},
		{"ftp", "ftp://example.org/hook"},
		{"no host", "https://"},
		{"bad escape", "https://example.org/%zz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewWebhook(WebhookOptions{URL: tc.url}); err == nil {
				t.Errorf("NewWebhook(%q) accepted", tc.url)
			}
		})
	}
}
