package daemon

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkAPIAuthnRequest measures the signing API end to end in process
// (auth, JSON, signing, JSON answer). Run with -cpu 1,2: the target
// is a throughput with 2 cores at least 1.7x that with one.
func BenchmarkAPIAuthnRequest(b *testing.B) {
	st := openStore(b)
	d := newDaemon(b, testConfig(), st)
	h := d.Handler()
	for _, binding := range []string{"redirect", "post"} {
		body := `{"idp":"corp","relay_state":"/app","binding":"` + binding + `"}`
		b.Run(binding, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest(http.MethodPost, "/api/v1/authn-requests", strings.NewReader(body))
					r.Header.Set("Authorization", "Bearer "+testToken)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Errorf("status %d: %s", w.Code, w.Body)
						return
					}
				}
			})
		})
	}
}

// BenchmarkMetadataThroughDaemon is the public metadata route through the
// daemon's full handler (routing and request metrics included).
func BenchmarkMetadataThroughDaemon(b *testing.B) {
	st := openStore(b)
	d := newDaemon(b, testConfig(), st)
	h := d.Handler()
	r := httptest.NewRequest(http.MethodGet, "/saml/metadata", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}
