package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func serve(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPublicPageHeaders(t *testing.T) {
	f := newFixture(t, true)
	p, err := RenderPublic(f.public)
	if err != nil {
		t.Fatal(err)
	}
	w := serve(p, "GET", "/", nil)
	want := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
		"Content-Security-Policy": CSP(),
		"Etag":                    p.ETag(),
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if w.Code != 200 || w.Body.String() != string(p.Body()) {
		t.Fatalf("GET: %d, body of %d bytes, want 200 and the page", w.Code, w.Body.Len())
	}
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(p.ETag()) {
		t.Errorf("ETag %s is not a quoted strong tag", p.ETag())
	}
	for _, inm := range []string{p.ETag(), `W/` + p.ETag(), `"x", ` + p.ETag(), "*"} {
		if w := serve(p, "GET", "/", map[string]string{"If-None-Match": inm}); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: %d with %d bytes, want 304 and none", inm, w.Code, w.Body.Len())
		}
	}
	if w := serve(p, "GET", "/", map[string]string{"If-None-Match": `"other"`}); w.Code != 200 {
		t.Errorf("If-None-Match other: %d, want 200", w.Code)
	}
	if w := serve(p, "HEAD", "/", nil); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

// TestCSPHashes hashes the inline <style> and <script> of the served page
// itself: the CSP must allow exactly those and nothing inline besides.
func TestCSPHashes(t *testing.T) {
	f := newFixture(t, true)
	for name, render := range map[string]func() (*Page, error){
		"public": func() (*Page, error) { return RenderPublic(f.public) },
		"admin":  func() (*Page, error) { return RenderAdmin(f.admin) },
	} {
		p, err := render()
		if err != nil {
			t.Fatal(err)
		}
		body := string(p.Body())
		for _, tag := range []string{"style", "script"} {
			m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
			if len(m) != 1 {
				t.Fatalf("%s: %d inline <%s> elements, want 1", name, len(m), tag)
			}
			sum := sha256.Sum256([]byte(m[0][1]))
			src := tag + "-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(CSP(), src) {
				t.Errorf("%s: CSP %q lacks %s", name, CSP(), src)
			}
		}
		if regexp.MustCompile(`\s(style|on[a-z]+)=`).MatchString(body) {
			t.Errorf("%s: an inline style or event attribute, which the CSP blocks", name)
		}
	}
	for _, d := range []string{"default-src 'none'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(CSP(), d) {
			t.Errorf("CSP lacks %s", d)
		}
	}
}

func TestPublicPageContent(t *testing.T) {
	plain, next := newFixture(t, false), newFixture(t, true)
	pp, err := RenderPublic(plain.public)
	if err != nil {
		t.Fatal(err)
	}
	np, err := RenderPublic(next.public)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pp.Body()), `class="banner"`) {
		t.Error("banner without a next key")
	}
	body := string(np.Body())
	if !strings.Contains(body, `class="banner"`) || !strings.Contains(body, "import it now") {
		t.Error("no banner with a next key")
	}
	for _, c := range next.public.Certs {
		// Fingerprints may wrap only after a colon.
		wrap := func(fp string) string { return strings.ReplaceAll(fp, ":", ":<wbr>") }
		for _, s := range []string{wrap(c.SHA1), wrap(c.SHA256), c.PEMURL, c.DERURL} {
			if !strings.Contains(body, s) {
				t.Errorf("page lacks %s", s)
			}
		}
	}
	// The current signing key expires 65 days after the view's Now.
	if !strings.Contains(body, "expires in 65 days") {
		t.Error(`page lacks "expires in 65 days"`)
	}
	// Hostile strings from config or IdP metadata are escaped.
	if strings.Contains(body, "legacy <partner>") || !strings.Contains(body, "legacy &lt;partner&gt;") {
		t.Error("IdP name not escaped")
	}
	if pp.ETag() == np.ETag() {
		t.Error("two different snapshots have one ETag")
	}
	again, err := RenderPublic(next.public)
	if err != nil {
		t.Fatal(err)
	}
	if again.ETag() != np.ETag() {
		t.Error("the same view renders to two ETags")
	}
}

func TestExpiryRows(t *testing.T) {
	a := Admin{
		Now:        clock,
		Thresholds: []Duration{Duration(60 * day), Duration(30 * day), Duration(14 * day), Duration(7 * day), Duration(3 * day), Duration(day)},
		Expiry: []Expiry{
			{Name: "far", NotAfter: clock.Add(400 * day)},
			{Name: "45d", NotAfter: clock.Add(45 * day)},
			{Name: "10d", NotAfter: clock.Add(10 * day)},
			{Name: "2d", NotAfter: clock.Add(2 * day)},
			{Name: "expired", NotAfter: clock.Add(-time.Hour)},
			{Name: "20d", NotAfter: clock.Add(20 * day)},
		},
	}
	rows, bad := expiryRows(a)
	want := []struct{ name, level, label, left string }{
		{"expired", "bad", "expired", "expired less than a day ago"},
		{"2d", "bad", "within the 3 days alert threshold", "expires in 2 days"},
		{"10d", "warn", "within the 14 days alert threshold", "expires in 10 days"},
		{"20d", "notice", "within the 30 days alert threshold", "expires in 20 days"},
		{"45d", "notice", "within the 60 days alert threshold", "expires in 45 days"},
		{"far", "ok", "no alert threshold crossed", "expires in 400 days"},
	}
	if len(rows) != len(want) || bad != 2 {
		t.Fatalf("%d rows, %d bad; want %d and 2", len(rows), bad, len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.Name != w.name || r.Level != w.level || r.Label != w.label || r.Left != w.left {
			t.Errorf("row %d: %s %s %q %q, want %s %s %q %q", i, r.Name, r.Level, r.Label, r.Left, w.name, w.level, w.label, w.left)
		}
	}
	if a.Expiry[0].Name != "far" {
		t.Error("expiryRows reordered the caller's slice")
	}
}

func TestStaleAt(t *testing.T) {
	tests := []struct {
		name  string
		times []time.Time
		th    []Duration
		want  time.Time
	}{
		{"nothing: a day", nil, nil, clock.Add(day)},
		{"day count ticks", []time.Time{clock.Add(10*day + 3*time.Hour)}, nil, clock.Add(3 * time.Hour)},
		{"threshold crossed first", []time.Time{clock.Add(7*day + 5*time.Hour)}, []Duration{Duration(7*day + 2*time.Hour)}, clock.Add(3 * time.Hour)},
		{"expiry itself", []time.Time{clock.Add(40 * time.Minute)}, nil, clock.Add(40 * time.Minute)},
		{"expired: count of days ago", []time.Time{clock.Add(-2*day - time.Hour)}, nil, clock.Add(23 * time.Hour)},
		{"at least a minute", []time.Time{clock.Add(time.Second)}, nil, clock.Add(time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := staleAt(clock, tt.times, tt.th); !got.Equal(tt.want) {
				t.Errorf("staleAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCache(t *testing.T) {
	now := clock
	c := Cache[int]{Now: func() time.Time { return now }}
	renders := 0
	f := newFixture(t, false)
	render := func(at time.Time) (*Page, error) {
		renders++
		v := f.public
		v.Now = at
		return RenderPublic(v)
	}
	get := func(key int) *Page {
		t.Helper()
		p, err := c.Get(key, render)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := get(1)
	if p2 := get(1); p2 != p1 || renders != 1 {
		t.Fatalf("same key: rendered %d times", renders)
	}
	if get(2); renders != 2 {
		t.Fatalf("new key: rendered %d times, want 2", renders)
	}
	now = p1.StaleAt.Add(day) // certainly past the new page's StaleAt too
	if get(2); renders != 3 {
		t.Fatalf("stale page: rendered %d times, want 3", renders)
	}
}

func TestAdminJSON(t *testing.T) {
	f := newFixture(t, true)
	b, err := json.Marshal(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"generated_at", "alert_thresholds", "components", "rotation", "checks", "expiry", "audit", "deprecated_algorithms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q", k)
		}
	}
	if th := m["alert_thresholds"].([]any); th[0] != "1440h0m0s" {
		t.Errorf("threshold marshals as %v, want \"1440h0m0s\"", th[0])
	}
	var back Admin
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Checks[0].Last.Stages[2].Duration != Duration(38*time.Millisecond) || back.Checks[0].Last.Diagnosis != diagnosis {
		t.Errorf("round trip lost the check: %+v", back.Checks[0].Last)
	}
	if !strings.Contains(string(b), `"promote_from":"2027-01-06T09:30:00Z"`) || strings.Contains(string(b), `"retired_at"`) {
		t.Errorf("times: want promote_from set and zero retired_at omitted: %s", b)
	}
}

func TestAdminPageContent(t *testing.T) {
	f := newFixture(t, true)
	p, err := RenderAdmin(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	body := string(p.Body())
	for _, want := range []string{
		"3 need attention", // the failing component, the failing check, the expired anchor
		"failing at tls",   // the check's failing stage
		`<span>tls</span> <span class="num">38ms</span>`, // stage timings
		"legacy &lt;partner&gt;",                         // IdP names escaped
		"not yet",                                        // an IdP that has not fetched the next key
		"60 days, 30 days, 14 days",                      // thresholds in words
		"within the 14 days alert threshold",
		"No key of this use is under rotation yet.",
		"glide.authenticate.sso.saml2.encryption.keystore",
		"1284",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("admin page lacks %q", want)
		}
	}
	// Soonest first: the expired trust anchor, then the IdP certificate
	// (10 days), then the current signing key (65 days).
	a, b, c := strings.Index(body, "Partner root"), strings.Index(body, "CN=idp.corp.example"), strings.Index(body, "expires in 65 days")
	if a < 0 || b < a || c < b {
		t.Errorf("expiry list out of order: %d %d %d", a, b, c)
	}
	// The hole for the sign-out token is in the form, empty by default.
	if !strings.Contains(body, `name="csrf" value=""`) {
		t.Error("the sign-out form's csrf field is not where the hole is")
	}
}
