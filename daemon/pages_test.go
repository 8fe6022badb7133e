package daemon

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
	"github.com/samlkeyd/samlkeyd/web"
)

// pageDaemon is a daemon on a fresh store with a settable clock.
type pageDaemon struct {
	*Daemon
	st    *store.Store
	clock atomic.Int64
	h     http.Handler
}

func newPageDaemon(t *testing.T, cfg *config.Config) *pageDaemon {
	t.Helper()
	pd := &pageDaemon{}
	pd.clock.Store(time.Now().Unix())
	now := func() time.Time { return time.Unix(pd.clock.Load(), 0).UTC() }
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir(), MasterKey: secret.FromString(strings.Repeat("ef", 32)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d, err := New(context.Background(), Options{Config: cfg, Store: st, Now: now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	pd.Daemon, pd.st, pd.h = d, st, d.Handler()
	return pd
}

func (pd *pageDaemon) advance(d time.Duration) { pd.clock.Add(int64(d / time.Second)) }

func colonHex(b []byte) string { return strings.ReplaceAll(fmt.Sprintf("% X", b), " ", ":") }

// servedFingerprints returns the SHA-256 and SHA-1 (colon form) of every
// certificate in /saml/certs/signing.pem and encryption.pem.
func servedFingerprints(t *testing.T, h http.Handler) (sha256s, sha1s []string) {
	t.Helper()
	for _, use := range []string{"signing", "encryption"} {
		rest := get(t, h, "/saml/certs/"+use+".pem").Body.Bytes()
		for {
			var blk *pem.Block
			if blk, rest = pem.Decode(rest); blk == nil {
				break
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			s256, s1 := sha256.Sum256(c.Raw), sha1.Sum(c.Raw)
			sha256s, sha1s = append(sha256s, colonHex(s256[:])), append(sha1s, colonHex(s1[:]))
		}
	}
	slices.Sort(sha256s)
	slices.Sort(sha1s)
	return sha256s, sha1s
}

var shownFP = regexp.MustCompile(`data-fp="(sha1|sha256)">([^<]*(?:<wbr>[^<]*)*)</code>`)

// shownFingerprints returns the fingerprints the public page's cards show.
func shownFingerprints(body string) (sha256s, sha1s []string) {
	for _, m := range shownFP.FindAllStringSubmatch(body, -1) {
		fp := strings.ReplaceAll(m[2], "<wbr>", "")
		if m[1] == "sha256" {
			sha256s = append(sha256s, fp)
		} else {
			sha1s = append(sha1s, fp)
		}
	}
	slices.Sort(sha256s)
	slices.Sort(sha1s)
	return sha256s, sha1s
}

func TestPublicPageShowsServedCertificatesAndBanner(t *testing.T) {
	cfg := testConfig()
	cfg.Rotation.Signing = &config.RotationPolicy{Validity: 90 * day, RotateBefore: 30 * day, PublishFor: 7 * day,
		RetireAfter: 14 * day, MaxWait: 7 * day, Schedule: "@daily"}
	pd := newPageDaemon(t, cfg)

	w := get(t, pd.h, "/")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || w.Header().Get("Etag") == "" {
		t.Fatalf("GET /: %d %v", w.Code, w.Header())
	}
	body := w.Body.String()
	want256, want1 := servedFingerprints(t, pd.h)
	got256, got1 := shownFingerprints(body)
	if len(want256) != 2 || !slices.Equal(got256, want256) || !slices.Equal(got1, want1) {
		t.Fatalf("fingerprints shown %v %v, served %v %v", got256, got1, want256, want1)
	}
	for _, s := range []string{"https://sp.example.com/saml/metadata", "https://sp.example.com/saml/acs", "rsa-sha256"} {
		if !strings.Contains(body, s) {
			t.Errorf("public page lacks %q", s)
		}
	}
	checkPageDownloads(t, pd.h, body, got256)
	if strings.Contains(body, `class="banner"`) {
		t.Fatal("banner without a next key")
	}
	if w := get(t, pd.h, "/", "If-None-Match", w.Header().Get("Etag")); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", w.Code)
	}

	// Publish a next signing key (29 days before the base key expires):
	// the rotation rebuilds the snapshot and the page shows the banner
	// with the date the key is used from.
	pd.clock.Store(certOf(t, pd.st, baseSigningID).NotAfter.Add(-29 * day).Unix())
	published := time.Unix(pd.clock.Load(), 0).UTC()
	steps, err := pd.rotate(context.Background(), keys.UseSigning, false)
	if err != nil || len(steps) != 1 || steps[0].Kind != lifecycle.StepGenerateNext {
		t.Fatalf("publish next: %v %v", steps, err)
	}
	body = get(t, pd.h, "/").Body.String()
	usedFrom := published.Add(7 * day).Format(time.RFC3339)
	if !strings.Contains(body, `class="banner"`) || !strings.Contains(body, `datetime="`+usedFrom+`"`) {
		t.Fatalf("no banner with used-from %s after publishing a next key:\n%s", usedFrom, body)
	}
	want256, _ = servedFingerprints(t, pd.h)
	if got256, _ = shownFingerprints(body); len(want256) != 3 || !slices.Equal(got256, want256) {
		t.Fatalf("after publishing: fingerprints shown %v, served %v", got256, want256)
	}
}

var downloadLink = regexp.MustCompile(`href="([^"]+)" download data-kind="(pem|der)"`)

// checkPageDownloads checks that the cards' PEM and DER links, in order,
// serve the certificates whose SHA-256 the cards show.
func checkPageDownloads(t *testing.T, h http.Handler, body string, shown []string) {
	t.Helper()
	var got []string
	for _, m := range downloadLink.FindAllStringSubmatch(body, -1) {
		w := get(t, h, html.UnescapeString(m[1]))
		der := w.Body.Bytes()
		if m[2] == "pem" {
			blk, _ := pem.Decode(der)
			if blk == nil {
				t.Fatalf("%s: %d, not PEM", m[1], w.Code)
			}
			der = blk.Bytes
		}
		sum := sha256.Sum256(der)
		got = append(got, colonHex(sum[:]))
	}
	slices.Sort(got)
	want := append(slices.Clone(shown), shown...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("download links serve %v, the cards show %v (each twice: PEM and DER)", got, shown)
	}
}

// pageClient signs in to /admin through the daemon's handler, keeping
// cookies as a browser would.
type pageClient struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]string
}

func (c *pageClient) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	r := httptest.NewRequest(method, path, nil)
	if form != nil {
		r = httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for n, v := range c.cookies {
		r.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	return w
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn posts token through the sign-in form (CSRF double submit) and
// returns the /admin page that follows.
func (c *pageClient) signIn(token string) *httptest.ResponseRecorder {
	c.t.Helper()
	m := csrfField.FindStringSubmatch(c.do("GET", web.PathAdmin, nil).Body.String())
	if m == nil {
		c.t.Fatal("no sign-in form at /admin")
	}
	if w := c.do("POST", web.PathLogin, url.Values{"csrf": {m[1]}, "token": {token}}); w.Code != http.StatusSeeOther {
		return w
	}
	return c.do("GET", web.PathAdmin, nil)
}

func TestAdminPageAndStatus(t *testing.T) {
	pd, check := newCheckDaemon(t)
	if w := postJSON(t, pd.h, "/api/v1/checks/partner/run", adminToken, ""); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"ok":false`) {
		t.Fatalf("run the failing check: %d %s", w.Code, w.Body)
	}
	diagnosis := check()

	signSide := &pageClient{t: t, h: pd.h, cookies: map[string]string{}}
	if w := signSide.signIn(testToken); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "not an admin token") || signSide.cookies[web.CookieSession] != "" {
		t.Fatalf("sign-scope token signed in: %d %v", w.Code, signSide.cookies)
	}

	c := &pageClient{t: t, h: pd.h, cookies: map[string]string{}}
	w := c.signIn(adminToken)
	body := html.UnescapeString(w.Body.String())
	if w.Code != http.StatusOK || !strings.Contains(body, `id="rotation"`) {
		t.Fatalf("admin page after sign-in: %d %.300s", w.Code, body)
	}
	fp := colonHex(func() []byte { s := sha256.Sum256(certOf(t, pd.st, baseSigningID).Raw); return s[:] }())
	for _, s := range []string{diagnosis, baseSigningID, fp, "core", "partner"} {
		if !strings.Contains(strings.ReplaceAll(body, "<wbr>", ""), s) {
			t.Errorf("admin page lacks %q", s)
		}
	}

	// The same data as JSON, for admin tokens only.
	if w := get(t, pd.h, "/api/v1/status", "Authorization", "Bearer "+testToken); w.Code != http.StatusForbidden {
		t.Fatalf("sign-scope token read the status: %d", w.Code)
	}
	w = get(t, pd.h, "/api/v1/status", "Authorization", "Bearer "+adminToken)
	var st web.Admin
	if err := json.Unmarshal(w.Body.Bytes(), &st); w.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /api/v1/status: %d %v %s", w.Code, err, w.Body)
	}
	if len(st.Rotation) != 2 || st.Rotation[0].Use != "signing" || len(st.Rotation[0].Keys) == 0 ||
		len(st.Checks) != 1 || st.Checks[0].Last == nil || st.Checks[0].Last.OK || st.Checks[0].Last.Diagnosis != diagnosis ||
		len(st.Checks[0].Last.Stages) == 0 || len(st.Components) == 0 || st.Components[0].Kind != "core" || !st.Components[0].OK ||
		len(st.Expiry) == 0 || len(st.Audit) == 0 || len(st.Thresholds) != 2 {
		t.Fatalf("status JSON: %s", w.Body)
	}
	for i := 1; i < len(st.Expiry); i++ {
		if st.Expiry[i].NotAfter.Before(st.Expiry[i-1].NotAfter) {
			t.Fatalf("expiry list not soonest first: %+v", st.Expiry)
		}
	}

	// A reload that changes the admin tokens ends the session.
	cfg := testConfig()
	cfg.Checks, cfg.Profiles, cfg.Alerts = pd.Snapshot().Config.Checks, pd.Snapshot().Config.Profiles, pd.Snapshot().Config.Alerts
	cfg.API.Tokens[1].SHA256 = HashToken("another admin token")
	if err := pd.Rebuild(context.Background(), "test", cfg); err != nil {
		t.Fatal(err)
	}
	if w := c.do("GET", web.PathAdmin, nil); !strings.Contains(w.Body.String(), `action="/admin/login"`) {
		t.Fatal("the session outlived a change of the admin tokens")
	}
}

// newCheckDaemon is a daemon with one mTLS check that fails (the server
// does not trust the profile's keystore); check returns the diagnosis of
// its stored last result.
func newCheckDaemon(t *testing.T) (*pageDaemon, func() string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.StartTLS() // no client certificate is asked for: the check's trust store lacks this server
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	cfg := testConfig()
	cfg.Alerts.Thresholds = []time.Duration{30 * day, 7 * day}
	cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: baseSigningID, DefaultPort: 443}}
	cfg.Checks = []config.Check{{Name: "partner", URL: "mhttps://" + u.Host + "/health", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: 5 * time.Second}}
	pd := newPageDaemon(t, cfg)
	return pd, func() string {
		t.Helper()
		res, err := pd.st.CheckResults(context.Background(), "partner", 1)
		if err != nil || len(res) != 1 || res[0].OK {
			t.Fatalf("stored check result: %v %+v", err, res)
		}
		var r struct{ Diagnosis string }
		if err := json.Unmarshal(res[0].Result, &r); err != nil || r.Diagnosis == "" {
			t.Fatalf("stored result has no diagnosis: %v %s", err, res[0].Result)
		}
		return r.Diagnosis
	}
}

func TestAdminPageRefreshesAfterWindow(t *testing.T) {
	pd, check := newCheckDaemon(t)
	c := &pageClient{t: t, h: pd.h, cookies: map[string]string{}}
	if body := c.signIn(adminToken).Body.String(); !strings.Contains(body, `id="checks"`) {
		t.Fatalf("admin page: %.300s", body)
	}
	if w := postJSON(t, pd.h, "/api/v1/checks/partner/run", adminToken, ""); w.Code != http.StatusOK {
		t.Fatalf("run check: %d", w.Code)
	}
	diagnosis := html.EscapeString(check())
	pd.advance(adminRefresh)
	if body := c.do("GET", web.PathAdmin, nil).Body.String(); !strings.Contains(body, diagnosis) {
		t.Fatalf("admin page %v after the check ran lacks its diagnosis", adminRefresh)
	}
}

func TestStatusPagesBeforeSignIn(t *testing.T) {
	pd := newPageDaemon(t, testConfig())
	w := get(t, pd.h, "/admin")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `action="/admin/login"`) {
		t.Fatalf("GET /admin without a session: %d", w.Code)
	}
	for _, ck := range w.Result().Cookies() {
		if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s over plain HTTP with an https base_url: %+v, want Secure HttpOnly Strict", ck.Name, ck)
		}
	}
	if w := get(t, pd.h, "/api/v1/status"); w.Code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/status without a token: %d", w.Code)
	}
	if w := get(t, pd.h, "/nowhere"); w.Code != http.StatusNotFound {
		t.Errorf("GET /nowhere: %d (the public page must answer / only)", w.Code)
	}
}

// discardWriter keeps headers and drops the body, so the benchmark measures
// the handlers, not a recorder's buffer.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

// BenchmarkPublicPageThroughDaemon compares GET / with GET /saml/certs, both
// through the daemon's full handler (snapshot load, routing, metrics) and
// both rendered once per snapshot:
//
//	go test -run '^$' -bench PublicPageThroughDaemon -benchtime 1s ./daemon/
func BenchmarkPublicPageThroughDaemon(b *testing.B) {
	d := newDaemon(b, testConfig(), openStore(b))
	h := d.Handler()
	for _, bc := range []struct{ name, path string }{{"page", "/"}, {"saml-certs", "/saml/certs"}} {
		path := bc.path
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = http.StatusOK
				h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("GET %s: %d", path, w.code)
				}
			}
		})
	}
}

func TestStatusComponentsShowFailedRebuild(t *testing.T) {
	pd := newPageDaemon(t, testConfig())
	core := func() web.Component {
		t.Helper()
		w := get(t, pd.h, "/api/v1/status", "Authorization", "Bearer "+adminToken)
		var st web.Admin
		if err := json.Unmarshal(w.Body.Bytes(), &st); w.Code != http.StatusOK || err != nil {
			t.Fatalf("GET /api/v1/status: %d %v %s", w.Code, err, w.Body)
		}
		for _, c := range st.Components {
			if c.Kind == "core" {
				return c
			}
		}
		t.Fatalf("no core component in %s", w.Body)
		return web.Component{}
	}
	if c := core(); !c.OK || c.Since.IsZero() {
		t.Fatalf("core component after the first build: %+v", c)
	}
	bad := testConfig()
	bad.API.Tokens[0].SHA256 = "not hex"
	pd.advance(time.Minute)
	if err := pd.Rebuild(context.Background(), "config", bad); err == nil {
		t.Fatal("a config with a bad token hash built")
	}
	if c := core(); c.OK || !strings.Contains(c.Error, "sha256 must be 64 hex") {
		t.Fatalf("core component after a failed rebuild: %+v", c)
	}
	pd.advance(time.Minute)
	if err := pd.Rebuild(context.Background(), "test", nil); err != nil {
		t.Fatal(err)
	}
	if c := core(); !c.OK {
		t.Fatalf("core component after a good rebuild: %+v", c)
	}
}

func TestAdminTokensEqual(t *testing.T) {
	set := func(tokens ...config.Token) *tokenSet {
		ts, err := newTokenSet(tokens)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	admin := config.Token{Name: "ops", SHA256: HashToken("a"), Scopes: []string{ScopeAdmin}}
	admin2 := config.Token{Name: "ops2", SHA256: HashToken("b"), Scopes: []string{ScopeSign, ScopeAdmin}}
	signer := config.Token{Name: "app", SHA256: HashToken("c"), Scopes: []string{ScopeSign}}
	demoted := admin
	demoted.Scopes = []string{ScopeSign}
	for _, tt := range []struct {
		name string
		a, b *tokenSet
		want bool
	}{
		{"same", set(admin, signer), set(admin, signer), true},
		{"order and names do not matter", set(admin, admin2), set(config.Token{Name: "x", SHA256: admin2.SHA256, Scopes: admin2.Scopes}, admin), true},
		{"a sign token added", set(admin), set(admin, signer), true},
		{"admin token added", set(admin), set(admin, admin2), false},
		{"admin token removed", set(admin, admin2), set(admin2), false},
		{"admin scope dropped", set(admin), set(demoted), false},
		{"none to none", set(), set(signer), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := adminTokensEqual(tt.a, tt.b); got != tt.want {
				t.Errorf("adminTokensEqual = %v, want %v", got, tt.want)
			}
		})
	}
}
