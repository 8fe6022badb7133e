package idpmeta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const doc = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com"/>`

// The proxy every non-loopback URL of these tests goes through. The proxy
// variables are set in TestMain because http.ProxyFromEnvironment reads
// them once per process; loopback URLs never use a proxy.
var testProxy struct {
	srv      *httptest.Server
	mu       sync.Mutex
	seen     []string // "GET http://host/path" or "CONNECT host:port"
	tunnelTo string   // where CONNECT requests are tunnelled
}

func TestMain(m *testing.M) {
	testProxy.srv = httptest.NewServer(http.HandlerFunc(proxyHandler))
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		os.Setenv(k, testProxy.srv.URL)
	}
	// NO_PROXY cleared of anything a developer's shell may hold; only a
	// host that none of the tests fetch through the proxy.
	os.Setenv("NO_PROXY", "direct.example.test")
	os.Setenv("no_proxy", "direct.example.test")
	os.Unsetenv("REQUEST_METHOD") // CGI mode ignores HTTP_PROXY
	code := m.Run()
	testProxy.srv.Close()
	os.Exit(code)
}

func proxyHandler(w http.ResponseWriter, r *http.Request) {
	testProxy.mu.Lock()
	if r.Method == http.MethodConnect {
		testProxy.seen = append(testProxy.seen, "CONNECT "+r.Host)
	} else {
		testProxy.seen = append(testProxy.seen, r.Method+" "+r.URL.String())
	}
	target := testProxy.tunnelTo
	testProxy.mu.Unlock()
	if r.Method != http.MethodConnect {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = io.WriteString(w, doc)
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusOK)
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	_ = rw.Flush()
	go func() { _, _ = io.Copy(up, conn); up.Close() }()
	_, _ = io.Copy(conn, up)
	conn.Close()
}

func proxySeen() []string {
	testProxy.mu.Lock()
	defer testProxy.mu.Unlock()
	return append([]string(nil), testProxy.seen...)
}

// tlsFetcher is a Fetcher over NewTransport that trusts srv's certificate.
func tlsFetcher(srv *httptest.Server) *Fetcher {
	t := NewTransport()
	t.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return &Fetcher{Client: &http.Client{Transport: t}}
}

func serveDoc(hits *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, doc)
	}
}

// TestFetchRefusesDowngrade: an https metadata_url that redirects to plain
// http is refused before the http request is made (http.DefaultClient, used
// until now, fetched it), and the error names the IdP and both URLs; an
// http URL (allow_http) may still be redirected to https.
func TestFetchRefusesDowngrade(t *testing.T) {
	var plainHits atomic.Int32
	plain := httptest.NewServer(serveDoc(&plainHits))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/direct":
			http.Redirect(w, r, plain.URL+"/md.xml", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/direct", http.StatusMovedPermanently)
		default:
			_, _ = io.WriteString(w, doc)
		}
	}))
	defer secure.Close()
	f := tlsFetcher(secure)

	for _, path := range []string{"/direct", "/hop"} {
		t.Run(path, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), "corp", secure.URL+path)
			var re *RedirectError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RedirectError", err)
			}
			msg := err.Error()
			for _, want := range []string{`"corp"`, secure.URL + path, secure.URL + "/direct", plain.URL + "/md.xml", "must not continue over http"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
		})
	}
	if n := plainHits.Load(); n != 0 {
		t.Fatalf("the plain http server saw %d requests, want 0", n)
	}

	t.Run("http to https is allowed", func(t *testing.T) {
		up := httptest.NewServer(http.RedirectHandler(secure.URL+"/md", http.StatusFound))
		defer up.Close()
		d, err := f.Fetch(context.Background(), "corp", up.URL)
		if err != nil {
			t.Fatal(err)
		}
		if d.FinalURL != secure.URL+"/md" || string(d.Data) != doc {
			t.Fatalf("final URL %s, data %q", d.FinalURL, d.Data)
		}
	})
}

// TestFetchRedirectBound: up to MaxRedirects redirects are followed and the
// final URL is reported; one more is refused.
func TestFetchRedirectBound(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/r/%d", &n); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, doc)
	}))
	defer srv.Close()
	tests := []struct {
		name      string
		max, hops int
		wantErr   string
	}{
		{"default bound reached", 0, DefaultMaxRedirects, ""},
		{"default bound passed", 0, DefaultMaxRedirects + 1, "more than 5 redirects"},
		{"custom bound passed", 2, 3, "more than 2 redirects"},
		{"no redirects", -1, 1, "redirects are not followed"},
		{"none needed", -1, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &Fetcher{MaxRedirects: tc.max}
			url := fmt.Sprintf("%s/r/%d", srv.URL, tc.hops)
			d, err := f.Fetch(context.Background(), "corp", url)
			if tc.wantErr != "" {
				var re *RedirectError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a RedirectError with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.URL != url || d.FinalURL != srv.URL+"/r/0" {
				t.Fatalf("URL %s final %s, want %s then %s/r/0", d.URL, d.FinalURL, url, srv.URL)
			}
		})
	}
}

// TestFetchProxyFromEnvironment: the default transport goes through
// HTTP_PROXY and HTTPS_PROXY (CONNECT, the TLS session end to end) and
// skips hosts in NO_PROXY.
func TestFetchProxyFromEnvironment(t *testing.T) {
	origin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, doc)
	}))
	defer origin.Close()
	testProxy.mu.Lock()
	testProxy.tunnelTo = origin.Listener.Addr().String()
	testProxy.seen = nil
	testProxy.mu.Unlock()

	// httptest's certificate is valid for example.com.
	d, err := tlsFetcher(origin).Fetch(context.Background(), "corp", "https://example.com/md.xml")
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Data) != doc {
		t.Fatalf("data %q", d.Data)
	}
	d, err = (&Fetcher{}).Fetch(context.Background(), "corp", "http://idp.example.test/md.xml")
	if err != nil {
		t.Fatal(err)
	}
	if d.FinalURL != "http://idp.example.test/md.xml" || string(d.Data) != doc {
		t.Fatalf("through the proxy: final URL %s, data %q", d.FinalURL, d.Data)
	}
	want := []string{"CONNECT example.com:443", "GET http://idp.example.test/md.xml"}
	if got := proxySeen(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("proxy saw %q, want %q", got, want)
	}

	req, _ := http.NewRequest(http.MethodGet, "https://direct.example.test/md.xml", nil)
	if u, err := NewTransport().Proxy(req); err != nil || u != nil {
		t.Fatalf("NO_PROXY host: proxy %v, %v; want none", u, err)
	}
}

// TestFetchLimits: status, size and time are bounded.
func TestFetchLimits(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 101))
		case "/big-chunked":
			w.(http.Flusher).Flush() // no Content-Length
			_, _ = io.WriteString(w, strings.Repeat("x", 101))
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/missing":
			http.NotFound(w, r)
		default:
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
		}
	}))
	defer srv.Close()
	defer close(release)
	f := &Fetcher{MaxBytes: 100, Timeout: 200 * time.Millisecond}
	tests := []struct{ path, wantErr string }{
		{"/ok", ""},
		{"/big", "over the 100-byte cap"},
		{"/big-chunked", "over the 100-byte cap"},
		{"/slow", "deadline exceeded"},
		{"/missing", "404 Not Found"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			_, err := f.Fetch(context.Background(), "corp", srv.URL+tc.path)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"corp"`) {
				t.Fatalf("err = %v, want one naming the IdP with %q", err, tc.wantErr)
			}
		})
	}
}

// TestFetchKeepsClientRules: a caller's CheckRedirect still applies after
// the fetcher's, and cannot relax them.
func TestFetchKeepsClientRules(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, doc)
	}))
	defer srv.Close()
	stop := errors.New("caller says no")
	f := &Fetcher{Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return stop }}}
	if _, err := f.Fetch(context.Background(), "corp", srv.URL+"/a"); !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the caller's", err)
	}
	lax := &Fetcher{MaxRedirects: -1, Client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}}
	if _, err := lax.Fetch(context.Background(), "corp", srv.URL+"/a"); err == nil {
		t.Fatal("a lax CheckRedirect relaxed MaxRedirects")
	}
}
