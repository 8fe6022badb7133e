package daemon

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

// fetchIdPs are the IdPs of the fetch tests, as config validation parses
// them: corp by networks, proxied by network and User-Agent, partner by a
// User-Agent it trusts, legacy by a User-Agent it does not.
func fetchIdPs() []config.IdP {
	return []config.IdP{
		{Name: "corp", MetadataFetchers: []string{"192.0.2.0/24", "2001:db8::7"},
			ParsedFetchers: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::7/128")}},
		{Name: "proxied", MetadataFetchers: []string{"203.0.113.0/24"}, MetadataUserAgent: "ProxiedIdP",
			ParsedFetchers: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
		{Name: "partner", MetadataUserAgent: "PartnerSAML", MetadataUserAgentTrusted: true},
		{Name: "legacy", MetadataUserAgent: "LegacyIdP"},
	}
}

func TestFetchingIdP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8:ff::1/128")}
	for _, tc := range []struct {
		name, remote, ua string
		xff              []string // X-Forwarded-For header lines
		want             string
	}{
		{"address in a network", "192.0.2.44:5000", "curl", nil, "corp"},
		{"IPv6 address", "[2001:db8::7]:443", "", nil, "corp"},
		{"IPv6 outside", "[2001:db8::8]:443", "", nil, ""},
		{"IPv4-mapped", "[::ffff:192.0.2.9]:1", "", nil, "corp"},
		{"trusted User-Agent alone", "198.51.100.1:1", "PartnerSAML/3", nil, "partner"},
		{"nothing matches", "198.51.100.1:1", "curl", nil, ""},
		// The attack of issue 13: an IdP's User-Agent from outside its networks.
		{"User-Agent from outside the networks", "198.51.100.1:1", "ProxiedIdP/1", nil, ""},
		{"untrusted User-Agent alone", "198.51.100.1:1", "LegacyIdP/2", nil, ""},
		{"network without the User-Agent", "203.0.113.5:1", "curl", nil, ""},
		{"network and User-Agent", "203.0.113.5:1", "ProxiedIdP/1", nil, "proxied"},
		// X-Forwarded-For is read only from a trusted proxy.
		{"XFF from an untrusted peer", "198.51.100.1:1", "ProxiedIdP/1", []string{"203.0.113.5"}, ""},
		{"XFF from an untrusted peer in a network", "192.0.2.44:1", "", []string{"198.51.100.1"}, "corp"},
		{"XFF through a trusted proxy", "10.0.0.2:40000", "ProxiedIdP/1", []string{"203.0.113.5"}, "proxied"},
		{"XFF through two trusted proxies", "10.0.0.2:40000", "ProxiedIdP/1", []string{"203.0.113.5, 10.0.0.3"}, "proxied"},
		{"XFF over several header lines", "10.0.0.2:1", "", []string{"198.51.100.9", "192.0.2.7, 10.0.0.3"}, "corp"},
		{"XFF IPv6 proxy", "[2001:db8:ff::1]:1", "", []string{"2001:db8::7"}, "corp"},
		{"XFF entry with a port", "10.0.0.2:1", "", []string{"[2001:db8::7]:5555"}, "corp"},
		{"spoofed leftmost XFF", "10.0.0.2:1", "ProxiedIdP/1", []string{"203.0.113.5, 198.51.100.1"}, ""},
		{"spoofed leftmost XFF, network only", "10.0.0.2:1", "", []string{"192.0.2.44,198.51.100.1"}, ""},
		{"garbage as the client", "10.0.0.2:1", "", []string{"192.0.2.44, unknown"}, ""},
		{"trusted proxy without XFF", "10.0.0.2:1", "ProxiedIdP/1", nil, ""},
		{"only trusted proxies in XFF", "10.0.0.2:1", "", []string{"10.0.0.9, 10.0.0.3"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fetchingIdP(fetchIdPs(), proxies, metadataRequest(tc.remote, tc.ua, tc.xff)); got != tc.want {
				t.Errorf("%s %q XFF %q: %q, want %q", tc.remote, tc.ua, tc.xff, got, tc.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string // "" = no valid address
	}{
		{"192.0.2.1:1", nil, "192.0.2.1"},
		{"192.0.2.1:1", []string{"198.51.100.1"}, "192.0.2.1"},
		{"10.0.0.1:1", nil, "10.0.0.1"},
		{"10.0.0.1:1", []string{" 198.51.100.1 "}, "198.51.100.1"},
		{"10.0.0.1:1", []string{"1.1.1.1, 198.51.100.1, 10.0.0.5"}, "198.51.100.1"},
		{"10.0.0.1:1", []string{"10.0.0.7, 10.0.0.5"}, "10.0.0.7"},
		{"10.0.0.1:1", []string{"198.51.100.1:8080"}, "198.51.100.1"},
		{"10.0.0.1:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.1:1", []string{"_hidden"}, ""},
		{"10.0.0.1:1", []string{""}, ""},
		{"not an address", nil, ""},
	} {
		got := clientAddr(metadataRequest(tc.remote, "", tc.xff), proxies)
		if s := addrString(got); s != tc.want {
			t.Errorf("%s XFF %q: %q, want %q", tc.remote, tc.xff, s, tc.want)
		}
	}
}

// metadataRequest is a GET /saml/metadata from remote with a User-Agent
// and X-Forwarded-For header lines.
func metadataRequest(remote, ua string, xff []string) *http.Request {
	r := httptest.NewRequest("GET", "/saml/metadata", nil)
	r.RemoteAddr, r.Header["User-Agent"] = remote, []string{ua}
	for _, x := range xff {
		r.Header.Add("X-Forwarded-For", x)
	}
	return r
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// TestForgedUserAgentDoesNotCount is issue 13's attack end to end: a
// metadata fetch with an IdP's User-Agent from outside its
// metadata_fetchers, and one from a client that wrote the IdP's address
// into X-Forwarded-For, are not recorded as the IdP's fetches (so they
// cannot release a key rollover); the IdP's own fetch through the trusted
// proxy is.
func TestForgedUserAgentDoesNotCount(t *testing.T) {
	st := openStore(t)
	cfg := testConfig()
	cfg.TrustedProxies = []string{"10.0.0.2"}
	cfg.ParsedTrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}
	cfg.IdPs[0].MetadataFetchers = []string{"192.0.2.0/24"}
	cfg.IdPs[0].ParsedFetchers = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	cfg.IdPs[0].MetadataUserAgent = "CorpIdP-MetadataRefresh"
	d := newDaemon(t, cfg, st)
	h := d.Handler()
	fetch := func(remote string, xff ...string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, metadataRequest(remote, "CorpIdP-MetadataRefresh/2.1", xff))
		if w.Code != 200 {
			t.Fatalf("GET /saml/metadata: %d", w.Code)
		}
	}
	recorded := func() int {
		t.Helper()
		f, err := st.MetadataFetches(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(f)
	}
	fetch("198.51.100.1:4000")                         // the User-Agent from outside
	fetch("198.51.100.1:4000", "192.0.2.10")           // XFF from a peer that is no proxy
	fetch("10.0.0.2:4000", "192.0.2.10, 198.51.100.1") // a forged entry left of the client the proxy saw
	if n := recorded(); n != 0 {
		t.Fatalf("forged fetches recorded: %d rows, want none", n)
	}
	fetch("10.0.0.2:4000", "192.0.2.10") // the IdP, through the proxy
	if n := recorded(); n != 1 {
		t.Fatalf("the IdP's fetch through the trusted proxy: %d rows, want 1", n)
	}
}

// TestForgeableUserAgentWarned: an IdP recognised by User-Agent alone is
// named in a warning at start and again when a reloaded config keeps it.
func TestForgeableUserAgentWarned(t *testing.T) {
	var logs syncBuffer
	cfg := testConfig()
	cfg.IdPs[0].MetadataUserAgent, cfg.IdPs[0].MetadataUserAgentTrusted = "CorpIdP", true
	d, err := New(context.Background(), Options{Config: cfg, Store: openStore(t),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const warning = "recognised by User-Agent alone"
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Fatalf("%d warnings at start, want 1:\n%s", n, logs.String())
	}
	reloaded := testConfig()
	reloaded.IdPs[0].MetadataUserAgent, reloaded.IdPs[0].MetadataUserAgentTrusted = "CorpIdP", true
	d.applyConfig(context.Background(), "test", reloaded)
	if n := strings.Count(logs.String(), warning); n != 2 {
		t.Fatalf("%d warnings after a reload, want 2:\n%s", n, logs.String())
	}
	untrusted := testConfig()
	untrusted.IdPs[0].MetadataUserAgent = "CorpIdP"
	d.applyConfig(context.Background(), "test", untrusted)
	if !strings.Contains(logs.String(), `is not counted`) || !strings.Contains(logs.String(), "idps=[corp]") {
		t.Fatalf("no warning that the User-Agent alone is not counted:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the daemon's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
