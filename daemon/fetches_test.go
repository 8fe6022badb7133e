package daemon

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/store"
)

func TestFetchingIdP(t *testing.T) {
	idps := []config.IdP{
		{Name: "corp", MetadataFetchers: []string{"192.0.2.0/24", "2001:db8::7"}, // as config validation parses them:
			ParsedFetchers: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::7/128")}},
		{Name: "partner", MetadataUserAgent: "PartnerSAML"},
	}
	for _, tc := range []struct{ remote, ua, want string }{
		{"192.0.2.44:5000", "curl", "corp"},
		{"[2001:db8::7]:443", "", "corp"},
		{"[2001:db8::8]:443", "", ""},
		{"[::ffff:192.0.2.9]:1", "", "corp"},
		{"198.51.100.1:1", "PartnerSAML/3", "partner"},
		{"198.51.100.1:1", "curl", ""},
	} {
		r := httptest.NewRequest("GET", "/saml/metadata", nil)
		r.RemoteAddr, r.Header["User-Agent"] = tc.remote, []string{tc.ua}
		if got := fetchingIdP(idps, r); got != tc.want {
			t.Errorf("%s %q: %q, want %q", tc.remote, tc.ua, got, tc.want)
		}
	}
}

func TestIdPsCaughtUp(t *testing.T) {
	pub := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	next := &store.Record{FingerprintSHA256: "nn"}
	fetches := []store.MetadataFetch{
		{IdP: "a", At: pub.Add(time.Hour), Fingerprints: []string{"cc", "nn"}},
		{IdP: "b", At: pub.Add(-time.Hour), Fingerprints: []string{"cc"}},
		{IdP: "c", At: pub.Add(time.Hour), Fingerprints: []string{"cc"}},
	}
	ok, behind := IdPsCaughtUp(fetches, next, pub)
	if ok || len(behind) != 2 || behind[0] != "b" || behind[1] != "c" {
		t.Fatalf("IdPsCaughtUp = %v %v", ok, behind)
	}
	if ok, _ := IdPsCaughtUp(fetches[:1], next, pub); !ok {
		t.Fatal("an IdP that fetched the next key is behind")
	}
	if ok, _ := IdPsCaughtUp(nil, next, pub); !ok {
		t.Fatal("with no IdP ever seen there is nobody to wait for")
	}
}
