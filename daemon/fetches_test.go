package daemon

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
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
