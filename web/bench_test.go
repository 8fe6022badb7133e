package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// discard is a ResponseWriter that keeps headers and drops the body, so the
// benchmark measures the handlers, not a recorder's buffer.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServe compares serving the public page with serving
// /saml/certs from metadata's handler (both rendered once per snapshot)
// and with a bare handler writing the page's bytes with an ETag:
//
//	go test -run '^$' -bench Serve -benchtime 1s ./web/
func BenchmarkServe(b *testing.B) {
	f := newFixture(b, true)
	mux, _ := f.newMux(b, Options{})
	page, err := RenderPublic(f.public)
	if err != nil {
		b.Fatal(err)
	}
	body, etag, length := page.Body(), page.ETag(), strconv.Itoa(len(page.Body()))
	bare := http.NewServeMux()
	bare.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("ETag", etag)
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	})
	for _, bc := range []struct {
		name, path string
		h          http.Handler
	}{
		{"page", "/", mux},
		{"saml-certs", "/saml/certs", mux},
		{"bare-same-size", "/", bare},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.path, nil)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				bc.h.ServeHTTP(w, r)
			}
		})
	}
}
