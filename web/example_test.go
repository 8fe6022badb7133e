package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/samlkeyd/samlkeyd/web"
)

// snapshot stands in for the daemon's immutable snapshot.
type snapshot struct{ entityID string }

// Example wires the pages as the daemon does: each page is rendered once
// per snapshot (and again when its day counts go stale) by a Cache keyed
// by the snapshot pointer, and served from bytes.
func Example() {
	cur := &snapshot{entityID: "https://sp.example.com/saml/metadata"}
	var public, admin web.Cache[*snapshot]
	h := web.NewHandler(web.Options{
		Public: func(*http.Request) *web.Page {
			s := cur // the daemon: its atomic.Pointer's Load()
			p, err := public.Get(s, func(now time.Time) (*web.Page, error) {
				return web.RenderPublic(web.Public{Now: now, EntityID: s.entityID, MetadataURL: s.entityID})
			})
			if err != nil {
				return nil // the daemon logs err; the route answers 503
			}
			return p
		},
		Admin: func(*http.Request) *web.Page {
			p, err := admin.Get(cur, func(now time.Time) (*web.Page, error) { return web.RenderAdmin(web.Admin{Now: now}) })
			if err != nil {
				return nil
			}
			return p
		},
		CheckAdminToken: func(token string) bool { return false }, // the daemon: a live token with the admin scope
		SecureCookies:   true,                                     // sp.base_url is https
	})
	mux := http.NewServeMux()
	h.Register(mux)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))

	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("If-None-Match", w.Header().Get("ETag"))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// 200 text/html; charset=utf-8
	// 304
}
