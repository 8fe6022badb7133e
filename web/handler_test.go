package web

import (
	"crypto/tls"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// adminClient drives the sign-in by hand, so each cookie attribute and
// status can be checked.
type adminClient struct {
	t       *testing.T
	mux     http.Handler
	cookies map[string]*http.Cookie
	tls     bool
}

func (c *adminClient) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	if c.tls {
		r.TLS = &tls.ConnectionState{}
	}
	for _, ck := range c.cookies {
		r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	w := httptest.NewRecorder()
	c.mux.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return w
}

// formCSRF returns the csrf field of the form in body.
func formCSRF(t *testing.T, body string) string {
	t.Helper()
	const marker = `name="csrf" value="`
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no csrf field in %.200q", body)
	}
	rest := body[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func newClient(t *testing.T, o Options) (*adminClient, *Handler, *time.Time) {
	now := clock
	if o.Now == nil {
		o.Now = func() time.Time { return now }
	}
	mux, h := newFixture(t, true).newMux(t, o)
	return &adminClient{t: t, mux: mux, cookies: map[string]*http.Cookie{}}, h, &now
}

func (c *adminClient) signIn(token string) *httptest.ResponseRecorder {
	c.t.Helper()
	w := c.do("GET", "/admin", nil)
	return c.do("POST", "/admin/login", url.Values{"csrf": {formCSRF(c.t, w.Body.String())}, "token": {token}})
}

func TestSignIn(t *testing.T) {
	c, h, now := newClient(t, Options{})
	w := c.do("GET", "/admin", nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `action="/admin/login"`) || strings.Contains(w.Body.String(), html.EscapeString(diagnosis)) {
		t.Fatalf("GET /admin without a session: %d, want the sign-in form", w.Code)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Security-Policy") != CSP() {
		t.Errorf("sign-in form headers: %v", w.Header())
	}
	csrf := c.cookies[cookieCSRF]
	if csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/admin" {
		t.Fatalf("csrf cookie %+v", csrf)
	}

	const wrong = "skd_wrong_token_77"
	w = c.do("POST", "/admin/login", url.Values{"csrf": {formCSRF(t, w.Body.String())}, "token": {wrong}})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "not an admin token") || strings.Contains(w.Body.String(), wrong) {
		t.Fatalf("wrong token: %d, want the form with an error and without the token", w.Code)
	}
	if c.cookies[CookieSession] != nil {
		t.Fatal("a wrong token got a session")
	}

	w = c.signIn(adminToken)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/admin" {
		t.Fatalf("right token: %d to %q, want 303 to /admin", w.Code, w.Header().Get("Location"))
	}
	s := c.cookies[CookieSession]
	if s == nil || !s.HttpOnly || s.SameSite != http.SameSiteStrictMode || s.Path != "/admin" || s.Secure || s.MaxAge != 12*3600 {
		t.Fatalf("session cookie %+v, want HttpOnly SameSite=Strict Path=/admin Max-Age=43200, not Secure on plain HTTP", s)
	}
	if c.cookies[cookieCSRF] != nil {
		t.Error("the sign-in csrf cookie outlives the sign-in")
	}

	w = c.do("GET", "/admin", nil)
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, html.EscapeString(diagnosis)) {
		t.Fatalf("GET /admin signed in: %d, want the page with the diagnosis", w.Code)
	}
	if w.Header().Get("Cache-Control") != "private, no-cache" || w.Header().Get("Vary") != "Cookie" {
		t.Errorf("admin page caching headers: %v", w.Header())
	}
	etag := w.Header().Get("Etag")
	if len(body) != mustAtoi(t, w.Header().Get("Content-Length")) {
		t.Errorf("Content-Length %s, body %d bytes", w.Header().Get("Content-Length"), len(body))
	}
	r := httptest.NewRequest("GET", "/admin", nil)
	r.AddCookie(&http.Cookie{Name: CookieSession, Value: s.Value})
	r.Header.Set("If-None-Match", etag)
	w2 := httptest.NewRecorder()
	c.mux.ServeHTTP(w2, r)
	if w2.Code != http.StatusNotModified {
		t.Errorf("If-None-Match on the admin page: %d, want 304", w2.Code)
	}

	// A second session gets its own sign-out token, hence its own ETag.
	c2 := &adminClient{t: t, mux: c.mux, cookies: map[string]*http.Cookie{}}
	c2.signIn(adminToken)
	w3 := c2.do("GET", "/admin", nil)
	if formCSRF(t, w3.Body.String()) == formCSRF(t, body) || w3.Header().Get("Etag") == etag {
		t.Error("two sessions share a sign-out token or an ETag")
	}

	*now = now.Add(SessionLifetime)
	if w := c.do("GET", "/admin", nil); strings.Contains(w.Body.String(), html.EscapeString(diagnosis)) {
		t.Error("the session outlives 12 hours")
	}
	if h.Sessions().Valid(s.Value) {
		t.Error("an expired session is still valid")
	}
}

func TestSignInRefused(t *testing.T) {
	tests := []struct {
		name   string
		form   func(csrf string) url.Values
		cookie bool
		status int
		text   string
	}{
		{"no csrf cookie", func(c string) url.Values { return url.Values{"csrf": {c}, "token": {adminToken}} }, false, 403, "form expired"},
		{"csrf mismatch", func(string) url.Values { return url.Values{"csrf": {"forged"}, "token": {adminToken}} }, true, 403, "form expired"},
		{"empty csrf", func(string) url.Values { return url.Values{"csrf": {""}, "token": {adminToken}} }, true, 403, "form expired"},
		{"no token", func(c string) url.Values { return url.Values{"csrf": {c}} }, true, 400, "Enter an admin token"},
		{"oversized form", func(c string) url.Values {
			return url.Values{"csrf": {c}, "token": {adminToken}, "pad": {strings.Repeat("x", maxFormBytes)}}
		}, true, 400, "could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, h, _ := newClient(t, Options{})
			w := c.do("GET", "/admin", nil)
			csrf := formCSRF(t, w.Body.String())
			if !tt.cookie {
				delete(c.cookies, cookieCSRF)
			}
			w = c.do("POST", "/admin/login", tt.form(csrf))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.text) {
				t.Errorf("%d %.300q, want %d with %q", w.Code, w.Body.String(), tt.status, tt.text)
			}
			if c.cookies[CookieSession] != nil || h.Sessions().Len() != 0 {
				t.Error("a refused sign-in got a session")
			}
		})
	}
}

func TestSecureCookies(t *testing.T) {
	for _, tt := range []struct {
		name        string
		secureOpt   bool
		secureFunc  func() bool
		overTLS     bool
		wantSecured bool
	}{
		{"plain http", false, nil, false, false},
		{"option", true, nil, false, true},
		{"tls", false, nil, true, true},
		{"func true", false, func() bool { return true }, false, true},
		{"func false overrides option", true, func() bool { return false }, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, _ := newClient(t, Options{SecureCookies: tt.secureOpt, SecureCookiesFunc: tt.secureFunc})
			c.tls = tt.overTLS
			c.signIn(adminToken)
			if s := c.cookies[CookieSession]; s == nil || s.Secure != tt.wantSecured {
				t.Errorf("session cookie %+v, want Secure=%v", s, tt.wantSecured)
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	c, h, _ := newClient(t, Options{})
	c.signIn(adminToken)
	sid := c.cookies[CookieSession].Value
	page := c.do("GET", "/admin", nil).Body.String()

	if w := c.do("POST", "/admin/logout", url.Values{"csrf": {"forged"}}); w.Code != http.StatusForbidden {
		t.Errorf("sign-out with a forged token: %d, want 403", w.Code)
	}
	if !h.Sessions().Valid(sid) {
		t.Fatal("a forged sign-out ended the session")
	}
	w := c.do("POST", "/admin/logout", url.Values{"csrf": {formCSRF(t, page)}})
	if w.Code != http.StatusSeeOther || h.Sessions().Valid(sid) || c.cookies[CookieSession] != nil {
		t.Fatalf("sign-out: %d, session valid %v, cookie kept %v", w.Code, h.Sessions().Valid(sid), c.cookies[CookieSession] != nil)
	}
	// Without a session, sign-out just clears the cookie.
	if w := c.do("POST", "/admin/logout", url.Values{}); w.Code != http.StatusSeeOther {
		t.Errorf("sign-out without a session: %d, want 303", w.Code)
	}

	c.signIn(adminToken)
	h.Sessions().Clear()
	if w := c.do("GET", "/admin", nil); strings.Contains(w.Body.String(), html.EscapeString(diagnosis)) {
		t.Error("Clear left a session working")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestRoutes(t *testing.T) {
	mux, _ := newFixture(t, false).newMux(t, Options{})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200}, {"HEAD", "/", 200}, {"POST", "/", 405}, {"GET", "/nope", 404},
		{"GET", "/admin", 200}, {"PUT", "/admin", 405}, {"GET", "/admin/login", 405},
		{"GET", "/saml/certs", 200},
	} {
		if w := serve(mux, tt.method, tt.path, nil); w.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.status)
		}
	}

	empty := http.NewServeMux()
	NewHandler(Options{Public: func(*http.Request) *Page { return nil }, Admin: func(*http.Request) *Page { return nil }, CheckAdminToken: func(string) bool { return true }}).Register(empty)
	if w := serve(empty, "GET", "/", nil); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("no snapshot: %d, want 503 with Retry-After", w.Code)
	}

	broken := http.NewServeMux()
	NewHandler(Options{Public: func(*http.Request) *Page { return nil }, Admin: func(*http.Request) *Page { return nil }, CheckAdminToken: func(string) bool { return true }, Rand: failingReader{}}).Register(broken)
	if w := serve(broken, "GET", "/admin", nil); w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "entropy") {
		t.Errorf("no randomness: %d %q, want 500 without detail", w.Code, w.Body.String())
	}
}

func TestSessionsCap(t *testing.T) {
	now := clock
	s := NewSessions(func() time.Time { now = now.Add(time.Second); return now }, nil)
	first, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	for range maxSessions + 10 {
		if _, err := s.Create(); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() > maxSessions {
		t.Errorf("%d sessions held, cap %d", s.Len(), maxSessions)
	}
	if s.Valid("") || s.Valid("not-a-session") {
		t.Error("an unknown id is valid")
	}
	if s.Valid(first) {
		t.Error("the oldest session survived the cap")
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}
