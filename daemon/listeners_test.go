package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLimitListener: with n connections open a further client is not
// accepted until one of them closes (closing twice frees one slot), and
// closing the listener releases a waiting Accept.
func TestLimitListener(t *testing.T) {
	inner, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(inner, 2)
	accepted := make(chan net.Conn, 4)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	next := func(within time.Duration) net.Conn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(within):
			return nil
		}
	}
	first, second := next(5*time.Second), next(5*time.Second)
	if first == nil || second == nil {
		t.Fatal("the first two connections were not accepted")
	}
	if c := next(200 * time.Millisecond); c != nil {
		t.Fatal("a third connection was accepted with two open")
	}
	_ = first.Close()
	_ = first.Close() // a second Close must not free a second slot
	third := next(5 * time.Second)
	if third == nil {
		t.Fatal("the third connection was not accepted after one closed")
	}
	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c := next(200 * time.Millisecond); c != nil {
		t.Fatal("a fourth connection was accepted: a double Close freed two slots")
	}
	_ = ln.Close() // Accept is waiting for a slot
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the waiting Accept")
	}
	_ = second.Close()
	_ = third.Close()
}

// TestMetricsListener: with Options.MetricsListener, /metrics is served
// there only (the main listener answers 404 for it), the metrics listener
// serves nothing else, and both stop at shutdown.
func TestMetricsListener(t *testing.T) {
	main, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), Options{Config: testConfig(), Store: openStore(t), Logger: testLogger(t),
		MetricsListener: LimitListener(metrics, 4)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, LimitListener(main, 16)) }()
	base, mbase := "http://"+main.Addr().String(), "http://"+metrics.Addr().String()
	for _, tc := range []struct {
		url      string
		code     int
		contains string
	}{
		{base + "/metrics", http.StatusNotFound, ""},
		{base + "/saml/metadata", http.StatusOK, "EntityDescriptor"},
		{mbase + "/metrics", http.StatusOK, "samlkeyd_snapshot_builds_total"},
		{mbase + "/saml/metadata", http.StatusNotFound, ""},
		{mbase + "/api/v1/checks", http.StatusNotFound, ""},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s: %d, want %d with %q", tc.url, resp.StatusCode, tc.code, tc.contains)
		}
		if tc.code == http.StatusOK && resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no X-Content-Type-Options: nosniff", tc.url)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx was cancelled")
	}
	if resp, err := http.Get(mbase + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatal("the metrics listener still answers after shutdown")
	}
}

// TestMetricsOnMainListenerByDefault: without a metrics listener /metrics
// is on the main handler, as before.
func TestMetricsOnMainListenerByDefault(t *testing.T) {
	d := newDaemon(t, testConfig(), openStore(t))
	w := get(t, d.Handler(), "/metrics")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "samlkeyd_snapshot_builds_total") {
		t.Fatalf("GET /metrics: %d", w.Code)
	}
}
